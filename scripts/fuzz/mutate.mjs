/**
 * Mutations for the fuzz targets (issue 10): a case is a seed (a real fixture, by index) and a
 * short list of edits applied in order, so fast-check prints a counterexample a person can read
 * and replay (`{ seed: 2, edits: [{ op: 'flip', at: 0.31, bit: 5 }] }`), and shrinks it by
 * dropping edits. Positions are fractions of the current length, so an edit stays meaningful
 * whatever the edits before it did to the size.
 *
 * fast-check is passed in (`fc`) rather than imported: this module is shared by the packages'
 * fuzz tests and `scripts/fuzz.mjs`, and each resolves fast-check from its own package.
 */

/** Values a blown-up length or count takes: just past the end, and what overflows 31, 32, 53 and 64 bits. */
export const HUGE_VARINTS = [
  1,
  127,
  128,
  16_383,
  16_384,
  0x7fff_ffff,
  0x8000_0000,
  0xffff_ffff,
  0x1_0000_0000,
  2 ** 53 - 1,
  2 ** 53,
  2n ** 63n,
  2n ** 64n - 1n,
];

/** Encodes an unsigned varint (values past 2^64 are truncated to 64 bits, as protobuf does). */
export function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

/** Reads a varint at `pos`: [value as a number (may lose precision past 2^53), next pos], or undefined past `end`. */
function readVarint(buf, pos, end) {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= end) return undefined;
    const b = buf[pos + i];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) return [value, pos + i + 1];
  }
  return undefined;
}

/**
 * The protobuf fields of `buf[start, end)`, best effort: stops at the first byte that does not
 * parse. Each field: its range, the wire type, and for length-delimited fields where the
 * length varint and the body are. Nested messages are found by parsing a body the same way.
 */
export function protobufFields(buf, start = 0, end = buf.length) {
  const fields = [];
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    if (!tag) break;
    const [key, afterTag] = tag;
    const wire = key % 8;
    if (key < 8) break;
    let fieldEnd;
    let lengthAt;
    let bodyAt;
    if (wire === 0) {
      const v = readVarint(buf, afterTag, end);
      if (!v) break;
      fieldEnd = v[1];
    } else if (wire === 1) fieldEnd = afterTag + 8;
    else if (wire === 5) fieldEnd = afterTag + 4;
    else if (wire === 2) {
      const len = readVarint(buf, afterTag, end);
      if (!len) break;
      lengthAt = afterTag;
      bodyAt = len[1];
      fieldEnd = bodyAt + len[0];
    } else break;
    if (fieldEnd > end) break;
    fields.push({ start: pos, end: fieldEnd, wire, lengthAt, bodyAt });
    pos = fieldEnd;
  }
  return fields;
}

/** A field `depth` levels down (following length-delimited bodies that parse as messages), picked by `pick` in [0, 1). */
function nestedField(buf, picks) {
  let fields = protobufFields(buf);
  let chosen;
  for (const pick of picks) {
    if (fields.length === 0) break;
    chosen = fields[Math.min(fields.length - 1, Math.floor(pick * fields.length))];
    if (chosen.wire !== 2) break;
    const inner = protobufFields(buf, chosen.bodyAt, chosen.end);
    if (inner.length === 0 || inner[inner.length - 1].end !== chosen.end) break;
    fields = inner;
  }
  return chosen;
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const indexIn = (fraction, length) => Math.min(length, Math.floor(fraction * (length + 1)));

/** Applies one edit to `bytes`; `seeds` are the other inputs a splice may take from. */
export function applyEdit(bytes, edit, seeds) {
  const n = bytes.length;
  switch (edit.op) {
    case 'flip': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[Math.min(n - 1, Math.floor(edit.at * n))] ^= 1 << edit.bit;
      return out;
    }
    case 'set': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      const at = Math.min(n - 1, Math.floor(edit.at * n));
      out.set(edit.bytes.subarray(0, n - at), at);
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, indexIn(edit.at, n));
    case 'insert': {
      const at = indexIn(edit.at, n);
      return concat(bytes.subarray(0, at), edit.bytes, bytes.subarray(at));
    }
    case 'delete': {
      const from = indexIn(edit.at, n);
      return concat(bytes.subarray(0, from), bytes.subarray(Math.min(n, from + edit.length)));
    }
    case 'repeat': {
      // A range copied in place several times: duplicated fields, parts, frames or lines.
      const from = indexIn(edit.at, n);
      const to = Math.min(n, from + edit.length);
      const copies = Array.from({ length: edit.times }, () => bytes.subarray(from, to));
      return concat(bytes.subarray(0, to), ...copies, bytes.subarray(to));
    }
    case 'splice': {
      const other = seeds[edit.seed % seeds.length];
      return concat(bytes.subarray(0, indexIn(edit.at, n)), other.subarray(indexIn(edit.from, other.length)));
    }
    case 'field-length': {
      // A length-delimited field whose length varint says something else: past the end, or 2^31, 2^32, 2^64 - 1.
      const field = nestedField(bytes, edit.path);
      if (!field || field.wire !== 2) return bytes;
      const bodyLength = field.end - field.bodyAt;
      const length = typeof edit.value === 'string' ? (edit.value === 'plus1' ? bodyLength + 1 : Math.max(0, bodyLength - 1)) : edit.value;
      return concat(bytes.subarray(0, field.lengthAt), Uint8Array.from(varint(length)), bytes.subarray(field.bodyAt));
    }
    case 'field-dup': {
      const field = nestedField(bytes, edit.path);
      if (!field) return bytes;
      const copy = bytes.subarray(field.start, field.end);
      return concat(bytes.subarray(0, field.end), ...Array.from({ length: edit.times }, () => copy), bytes.subarray(field.end));
    }
    case 'field-drop': {
      const field = nestedField(bytes, edit.path);
      if (!field) return bytes;
      return concat(bytes.subarray(0, field.start), bytes.subarray(field.end));
    }
    case 'field-varint': {
      // A varint field (an id, an index, a value, a time) set to an extreme.
      const field = nestedField(bytes, edit.path);
      if (!field || field.wire !== 0) return bytes;
      const tagEnd = readVarint(bytes, field.start, field.end)[1];
      return concat(bytes.subarray(0, tagEnd), Uint8Array.from(varint(edit.value)), bytes.subarray(field.end));
    }
    default:
      throw new Error(`unknown edit ${edit.op}`);
  }
}

/** The byte-level edits: bit flips, overwrites, truncation, insertion, deletion, repeats and splices. */
export function byteEdit(fc) {
  const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  const someBytes = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 16 }),
    fc.constantFrom(
      ...[[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80], [0], [0x0d, 0x0a], [0x0d, 0x0a, 0x0d, 0x0a]].map((b) =>
        Uint8Array.from(b),
      ),
    ),
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('flip'), at: fraction, bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('set'), at: fraction, bytes: someBytes }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate'), at: fraction }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('insert'), at: fraction, bytes: someBytes }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete'), at: fraction, length: fc.integer({ min: 1, max: 64 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('repeat'), at: fraction, length: fc.integer({ min: 1, max: 256 }), times: fc.integer({ min: 1, max: 4 }) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('splice'), at: fraction, seed: fc.nat(), from: fraction }) },
  );
}

/** Edits that know protobuf: lengths blown up, fields duplicated or dropped, varints set to extremes, at any depth. */
export function protobufEdit(fc) {
  const path = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 3 });
  const extreme = fc.constantFrom(...HUGE_VARINTS, 0);
  return fc.oneof(
    fc.record({ op: fc.constant('field-length'), path, value: fc.oneof(extreme, fc.constantFrom('plus1', 'minus1')) }),
    fc.record({ op: fc.constant('field-dup'), path, times: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ op: fc.constant('field-drop'), path }),
    fc.record({ op: fc.constant('field-varint'), path, value: extreme }),
  );
}

/**
 * A mutated input: one of `seeds` (Uint8Arrays) with 0 to `maxEdits` edits. Zero edits keeps
 * the real fixture in the mix, so "valid input → agrees with the reference" is tested too.
 */
export function mutatedBytes(fc, seeds, { edits = byteEdit(fc), maxEdits = 4 } = {}) {
  return fc.record({ seed: fc.nat({ max: seeds.length - 1 }), edits: fc.array(edits, { maxLength: maxEdits }) }).map(({ seed, edits: list }) => {
    let bytes = seeds[seed];
    for (const edit of list) bytes = applyEdit(bytes, edit, seeds);
    return bytes;
  });
}

/** The typed errors a target may throw; anything else is a failure of the property. */
export function expectTyped(error, ...types) {
  if (types.some((type) => error instanceof type)) return error;
  const name = error?.constructor?.name ?? typeof error;
  const failure = new Error(`threw ${name} (accepted: ${types.map((t) => t.name).join(', ')}): ${error?.message ?? String(error)}`);
  failure.cause = error;
  throw failure;
}
