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

/** A tiny protobuf writer, to build malformed profiles byte by byte. */
export function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
export const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
/** A varint field. */
export const vfield = (field: number, value: number | bigint): number[] => [...tag(field, 0), ...varint(value)];
/** A length-delimited field. */
export const lfield = (field: number, body: number[]): number[] => [...tag(field, 2), ...varint(body.length), ...body];
/** A string_table entry. */
export const str = (s: string): number[] => lfield(6, [...new TextEncoder().encode(s)]);
export const bytes = (...parts: number[][]): Uint8Array => new Uint8Array(parts.flat());
