import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

function capture() {
  const out = { stdout: '', stderr: '' };
  const stream = (key: 'stdout' | 'stderr') => new Writable({ write: (chunk, _enc, done) => ((out[key] += String(chunk)), done()) });
  return { out, io: { stdout: stream('stdout'), stderr: stream('stderr'), env: {} } };
}

describe('profcol command line', () => {
  it('refuses a log level it does not know, naming the accepted ones, with exit code 2', async () => {
    const { out, io } = capture();
    expect(await main(['run', '--config', 'x.yaml', '--log-level', 'verbose'], io)).toBe(2);
    expect(out.stderr).toBe('profcol run: --log-level "verbose" is not one of trace, debug, info, warn, error, fatal, silent\n');
  });

  it('refuses an unknown log format', async () => {
    const { out, io } = capture();
    expect(await main(['run', '--config', 'x.yaml', '--log-format', 'xml'], io)).toBe(2);
    expect(out.stderr).toContain('--log-format "xml" is not one of auto, json, pretty');
  });

  it('refuses an unknown option and shows the usage', async () => {
    const { out, io } = capture();
    expect(await main(['validate', '--confg', 'x.yaml'], io)).toBe(2);
    expect(out.stderr).toMatch(/Unknown option '--confg'[\s\S]*Usage: profcol <command>/);
  });

  it('asks for --config when validate or run has none', async () => {
    const { out, io } = capture();
    expect(await main(['validate'], io)).toBe(2);
    expect(out.stderr).toMatch(/^profcol validate: --config FILE is required/);
  });

  it('reports a configuration file that does not exist, with exit code 1', async () => {
    const { out, io } = capture();
    expect(await main(['validate', '--config', '/nonexistent/profcol.yaml'], io)).toBe(1);
    expect(out.stderr).toContain('cannot read configuration file: ENOENT');
  });
});
