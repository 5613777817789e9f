import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProfileBundle } from '@profcol/core';
import { decodePprof, decompress } from '@profcol/pprof';
import type { Profile as Pprof } from 'pprof-format';

export const REPO_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

export interface PprofFixture {
  /** Where it comes from: `go-pprof/heap.pprof`, `ddtrace-go-v2/upload.body.bin#cpu.pprof`. */
  name: string;
  /** The bytes as a receiver gets them (possibly compressed). */
  data: Uint8Array;
}

/** The parts of a multipart/form-data body, by filename (dd-trace uploads keep their profiles there). */
function multipartFiles(body: Buffer, boundary: string): { filename: string; data: Buffer }[] {
  const files: { filename: string; data: Buffer }[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next === -1) break;
    const part = body.subarray(at + delimiter.length + 2, next - 2); // after CRLF, before CRLF
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('latin1');
    const filename = /filename="([^"]+)"/.exec(headers)?.[1];
    if (filename) files.push({ filename, data: part.subarray(headerEnd + 4) });
    at = next;
  }
  return files;
}

/**
 * Every pprof of test/fixtures: the .pprof files, and the .pprof attachments of the recorded
 * dd-trace uploads (dd-trace-go v1 and v2, dd-trace-js).
 */
export function allPprofFixtures(): PprofFixture[] {
  const out: PprofFixture[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const name = path.relative(REPO_FIXTURES, full);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.pprof')) out.push({ name, data: fs.readFileSync(full) });
      else if (entry.name.endsWith('.body.bin')) {
        const headers = fs.readFileSync(full.replace(/\.body\.bin$/, '.headers.txt'), 'latin1');
        const boundary = /boundary=([^\s;]+)/i.exec(headers)?.[1];
        if (!boundary) throw new Error(`${name}: no multipart boundary in its headers file`);
        for (const file of multipartFiles(fs.readFileSync(full), boundary)) {
          if (file.filename.endsWith('.pprof')) out.push({ name: `${name}#${file.filename}`, data: file.data });
        }
      }
    }
  };
  walk(REPO_FIXTURES);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export function decodeFixture(fixture: PprofFixture): { plain: Uint8Array; pprof: Pprof } {
  const plain = decompress(fixture.data);
  return { plain, pprof: decodePprof(plain) };
}

/** A bundle as a receiver makes it, around given profiles. */
export function bundleOf(profiles: ProfileBundle['profiles'], resource: Record<string, string> = {}): ProfileBundle {
  return {
    source: 'ddtrace',
    resource: {
      service: 'checkout',
      env: 'prod',
      version: '1.2.3',
      host: 'web-1',
      language: 'golang',
      runtime_id: '3f1c2a9e-0d7b-4d52-9a51-1c1f0b0c5e11',
      profile_seq: '7',
      ...resource,
    },
    tags: { team: 'payments' },
    window: { startNanos: 1_700_000_000_000_000_000n, endNanos: 1_700_000_060_000_000_000n },
    profiles,
  };
}

/**
 * A pprof sample as a person reads it: its values, its stack (function, file and line of every
 * frame, inlined ones included) and its labels — independent of ids and string table order.
 */
export function readableSamples(pprof: Pprof): string[] {
  const s = (i: number | bigint) => pprof.stringTable.strings[Number(i)] ?? '';
  const functions = new Map(pprof.function.map((f) => [String(f.id), f]));
  const locations = new Map(pprof.location.map((l) => [String(l.id), l]));
  const mappings = new Map(pprof.mapping.map((m) => [String(m.id), m]));
  return pprof.sample.map((sample) => {
    const frames = sample.locationId.map((id) => {
      const loc = locations.get(String(id))!;
      const m = mappings.get(String(loc.mappingId));
      const lines = loc.line.map((line) => {
        const f = functions.get(String(line.functionId));
        return `${s(f?.name ?? 0)}|${s(f?.systemName ?? 0)}|${s(f?.filename ?? 0)}:${line.line}:${line.column}@${f?.startLine ?? 0}`;
      });
      return `${loc.address}[${m ? `${s(m.filename)} ${s(m.buildId)} ${m.memoryStart}-${m.memoryLimit}+${m.fileOffset}` : ''}](${lines.join(' / ')})`;
    });
    const labels = sample.label
      .map((l) => (Number(l.str) !== 0 ? `${s(l.key)}=${s(l.str)}` : `${s(l.key)}=${l.num}${Number(l.numUnit) !== 0 ? ` ${s(l.numUnit)}` : ''}`))
      .sort();
    return `${sample.value.join(',')} :: ${frames.join(' <- ')} :: ${labels.join(', ')}`;
  });
}
