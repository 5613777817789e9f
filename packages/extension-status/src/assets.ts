/**
 * The files the page loads, all served by profcol itself so the page works without internet:
 * its own script and style, and the drawing libraries as installed from the npm registry
 * (d3's UMD bundle and d3-flame-graph's, which expects d3 as a global).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  contentType: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);
const OWN_ASSETS = fileURLToPath(new URL('../assets/', import.meta.url));

/** The folder of an installed package's entry point (d3's `exports` do not expose its `dist/`). */
function packageEntryDir(name: string): string {
  return path.dirname(require.resolve(name));
}

/** URL path → file. d3 resolves to `src/index.js` under `require`, its bundle is in `dist/`. */
function assetFiles(): Record<string, { file: string; contentType: string }> {
  const d3Dist = path.join(packageEntryDir('d3'), '..', 'dist');
  const flameDist = packageEntryDir('d3-flame-graph');
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return {
    '/': { file: path.join(OWN_ASSETS, 'index.html'), contentType: 'text/html; charset=utf-8' },
    '/assets/status.js': { file: path.join(OWN_ASSETS, 'status.js'), contentType: js },
    '/assets/status.css': { file: path.join(OWN_ASSETS, 'status.css'), contentType: css },
    '/vendor/d3.min.js': { file: path.join(d3Dist, 'd3.min.js'), contentType: js },
    '/vendor/d3-flamegraph.min.js': { file: path.join(flameDist, 'd3-flamegraph.umd.min.js'), contentType: js },
    '/vendor/d3-flamegraph.css': { file: path.join(flameDist, 'd3-flamegraph.css'), contentType: css },
  };
}

/** Reads every asset once, at start: a missing one is an installation problem, said at once. */
export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [urlPath, { file, contentType }] of Object.entries(assetFiles())) {
    try {
      assets.set(urlPath, { contentType, body: readFileSync(file) });
    } catch (error) {
      throw new Error(
        `status: cannot read ${file}, which the page serves at ${urlPath} (${(error as Error).message}); reinstall @profcol/extension-status with its dependencies d3 and d3-flame-graph`,
        { cause: error },
      );
    }
  }
  return assets;
}
