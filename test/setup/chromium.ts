// Ensures a real Chromium for the browser tests: Debian's `chromium` package, installed with
// apt-get when it is missing and the tests run as root (as on the reference machine and in CI
// containers); otherwise the error says what to install. $PROFCOL_CHROMIUM names another binary.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const CANDIDATES = ['chromium', 'chromium-browser'];
const INSTALL_TIMEOUT_MS = 15 * 60_000;

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

function found(): string | undefined {
  const chosen = process.env['PROFCOL_CHROMIUM'];
  if (chosen) return chosen;
  for (const name of CANDIDATES) {
    const file = onPath(name) ?? tryFile(`/usr/bin/${name}`);
    if (file) return file;
  }
  return undefined;
}

function tryFile(file: string): string | undefined {
  try {
    accessSync(file, constants.X_OK);
    return file;
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${cmd} ${args.join(' ')} failed: ${error.message}\n${String(stderr).slice(-2000)}`));
        else resolve(String(stdout));
      },
    );
  });
}

let ensuring: Promise<string> | undefined;

/** The path of a Chromium binary, installing Debian's `chromium` package once if needed. */
export function ensureChromium(): Promise<string> {
  ensuring ??= (async () => {
    const existing = found();
    if (existing) return existing;
    const apt = onPath('apt-get');
    if (!apt || process.getuid?.() !== 0) {
      throw new Error(
        "the browser test needs Chromium: install Debian's package (apt-get install -y chromium) or set PROFCOL_CHROMIUM to a Chromium binary; the test installs it itself only when run as root on a system with apt-get",
      );
    }
    try {
      await run(apt, ['install', '-y', '-q', 'chromium']);
    } catch {
      // A fresh container has no package lists yet.
      await run(apt, ['update', '-q']);
      await run(apt, ['install', '-y', '-q', 'chromium']);
    }
    const installed = found();
    if (!installed) throw new Error('apt-get installed chromium, but no chromium binary is on the PATH or at /usr/bin/chromium');
    return installed;
  })();
  ensuring.catch(() => (ensuring = undefined));
  return ensuring;
}
