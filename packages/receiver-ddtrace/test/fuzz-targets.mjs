/**
 * Fuzz targets of the ddtrace receiver (issue 10): the multipart parser and the reading of an
 * upload from its parts, over the real dd-trace-go v1/v2 and dd-trace-js uploads, mutated
 * (bit flips, truncation, splices, parts and CRLFs duplicated) and fed in random chunks.
 * Properties: nothing is thrown but `MultipartError` / `UploadError`; the chunking never
 * changes the outcome; parts never hold more than the body; an unedited upload is accepted.
 *
 * Plain JavaScript so that `scripts/fuzz.mjs` runs the same targets; the modules under test are
 * passed in (`src` under vitest, `dist` there).
 */
import { readFileSync } from 'node:fs';
import { applyEdit, byteEdit, expectTyped } from '../../../scripts/fuzz/mutate.mjs';

const fixtures = new URL('../../../test/fixtures/', import.meta.url);

/** A real upload: its body and the boundary of its Content-Type. */
function upload(dir, body) {
  const headers = readFileSync(new URL(`${dir}/${body.replace('.body.bin', '.headers.txt')}`, fixtures), 'latin1');
  const boundary = /boundary=([^\r\n;]+)/.exec(headers)[1].trim();
  return { name: `${dir}/${body}`, body: new Uint8Array(readFileSync(new URL(`${dir}/${body}`, fixtures))), boundary };
}

function fail(message) {
  throw new Error(message);
}

/** Splits `bytes` at the given fractions of its length (sorted, deduplicated). */
function chunked(bytes, cuts) {
  const at = [...new Set(cuts.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const out = [];
  let from = 0;
  for (const cut of [...at, bytes.length]) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  return out;
}

/** What a parse ends in, comparable across chunkings: the parts, or the refusal reason. */
function outcome(MultipartParser, MultipartError, boundary, limits, chunks) {
  const parser = new MultipartParser(boundary, limits);
  try {
    for (const chunk of chunks) parser.write(chunk);
    return { parts: parser.end() };
  } catch (error) {
    return { error: expectTyped(error, MultipartError) };
  }
}

function describeOutcome(o) {
  return o.error
    ? `refused (${o.error.reason}: ${o.error.message.slice(0, 160)})`
    : `${o.parts.length} parts [${o.parts.map((p) => `${p.name}:${p.data.length}`).join(', ')}]`;
}

function sameParts(a, b) {
  return (
    a.length === b.length &&
    a.every(
      (p, i) =>
        p.index === b[i].index &&
        p.name === b[i].name &&
        p.filename === b[i].filename &&
        p.contentType === b[i].contentType &&
        Buffer.compare(p.data, b[i].data) === 0,
    )
  );
}

/**
 * @param {{ fc: typeof import('fast-check'), multipart: typeof import('../src/multipart.js'), upload: typeof import('../src/upload.js'),
 *           errors: typeof import('../src/errors.js'), decoder: import('@profcol/pprof').ProfileDecoder }} deps
 */
export function ddtraceFuzzTargets({ fc, multipart, upload: uploadModule, errors, decoder }) {
  const { MultipartParser, MultipartError, DEFAULT_MULTIPART_LIMITS } = multipart;
  const seeds = [upload('ddtrace-go-v2', 'upload.body.bin'), upload('ddtrace-go-v1', 'upload.body.bin'), upload('ddtrace-js', 'upload-gzip.body.bin')];
  const bodies = seeds.map((s) => s.body);
  const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  const recipe = fc.record({ seed: fc.nat({ max: seeds.length - 1 }), edits: fc.array(byteEdit(fc), { maxLength: 4 }) });
  const limits = fc.oneof(
    { weight: 3, arbitrary: fc.constant(DEFAULT_MULTIPART_LIMITS) },
    {
      weight: 1,
      arbitrary: fc.record({
        maxHeaderBytes: fc.integer({ min: 1, max: 512 }),
        maxParts: fc.integer({ min: 1, max: 12 }),
        maxPreambleBytes: fc.integer({ min: 0, max: 64 }),
      }),
    },
  );
  const build = (r) => r.edits.reduce((bytes, edit) => applyEdit(bytes, edit, bodies), bodies[r.seed]);

  return [
    {
      name: 'multipart parser',
      feature: 'multipart parser: MultipartError only; any chunking gives the same parts or the same refusal; parts never exceed the body or the part limit',
      arbitrary: fc.record({ recipe, limits, cuts: fc.array(fraction, { maxLength: 12 }), boundaryEdit: fc.constantFrom('same', 'other', 'prefix') }),
      check({ recipe: r, limits: lim, cuts, boundaryEdit }) {
        const body = build(r);
        const declared = seeds[r.seed].boundary;
        // A Content-Type naming another boundary, or one that is a prefix of the real one (a body line that almost matches).
        const boundary = boundaryEdit === 'same' ? declared : boundaryEdit === 'other' ? seeds[(r.seed + 1) % seeds.length].boundary : declared.slice(0, 10);
        const whole = outcome(MultipartParser, MultipartError, boundary, lim, [body]);
        const pieces = outcome(MultipartParser, MultipartError, boundary, lim, chunked(body, cuts));
        const bytes = (o) => (o.parts ?? []).reduce((n, p) => n + p.data.length, 0);
        if (whole.parts && pieces.parts ? !sameParts(whole.parts, pieces.parts) : whole.error?.reason !== pieces.error?.reason) {
          fail(`one chunk: ${describeOutcome(whole)}; ${cuts.length + 1} chunks: ${describeOutcome(pieces)}`);
        }
        for (const o of [whole, pieces]) {
          if (bytes(o) > body.length) fail(`parts hold ${bytes(o)} bytes of a ${body.length}-byte body`);
          if (o.parts && o.parts.length > lim.maxParts) fail(`${o.parts.length} parts accepted, the limit is ${lim.maxParts}`);
        }
        if (r.edits.length === 0 && boundaryEdit === 'same' && lim === DEFAULT_MULTIPART_LIMITS && !whole.parts)
          fail(`the unedited ${seeds[r.seed].name} was refused: ${describeOutcome(whole)}`);
      },
    },
    {
      name: 'ddtrace upload',
      feature: 'ddtrace upload: a parsed body is a bundle or an UploadError with a refusal status, never another error; an unedited upload is a bundle',
      async: true,
      arbitrary: recipe,
      async check(r) {
        const body = build(r);
        const parsed = outcome(MultipartParser, MultipartError, seeds[r.seed].boundary, DEFAULT_MULTIPART_LIMITS, [body]);
        if (!parsed.parts) return;
        const options = { source: 'ddtrace', keepAttachments: true, hostTag: 'upload', receiverHost: 'fuzz' };
        try {
          const result = await uploadModule.interpretUpload(parsed.parts, options, decoder);
          if (result.bundle.profiles.length + (result.bundle.attachments?.length ?? 0) === 0 && r.edits.length === 0)
            fail('an unedited upload gave an empty bundle');
          const start = result.bundle.window.startNanos;
          const end = result.bundle.window.endNanos;
          if (start < 0n || end < start || end >= 2n ** 63n) fail(`accepted a window ${start}..${end} that 64-bit Unix nanoseconds cannot hold`);
        } catch (error) {
          expectTyped(error, errors.UploadError);
          if (!(error.status >= 400 && error.status < 600)) fail(`UploadError ${error.reason} has status ${error.status}`);
          if (r.edits.length === 0) fail(`the unedited ${seeds[r.seed].name} was refused: ${error.reason}: ${error.message}`);
        }
      },
    },
  ];
}
