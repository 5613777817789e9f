import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const repoFixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const localFixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A file of the repository's shared fixtures (`test/fixtures/...`). */
export function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(repoFixtures + path));
}

/** A file of this package's own fixtures (made with the zstd/lz4 CLIs, see fixtures/README.md). */
export function localFixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(localFixtures + path));
}

/** A go-pprof fixture, gunzipped (the raw protobuf). */
export function rawGoPprof(name: string): Uint8Array {
  return new Uint8Array(gunzipSync(fixture(`go-pprof/${name}.pprof`)));
}
