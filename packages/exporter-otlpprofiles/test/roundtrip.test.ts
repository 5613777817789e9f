/**
 * pprof → OTLP profiles (on the wire) → pprof gives the profile back: for every pprof of
 * test/fixtures, the same sample types, the same samples with the same values, stacks and
 * labels, and the same totals, period, time and duration.
 */
import { toBinary } from '@bufbuild/protobuf';
import { summarizePprof } from '@profcol/pprof';
import { Profile as Pprof } from 'pprof-format';
import { describe, expect, it } from 'vitest';
import { convertBundle } from '../src/convert.js';
import { ExportProfilesServiceRequestSchema } from '../src/gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.js';
import { decodeRequest, requestToPprof } from '../src/testing.js';
import { allPprofFixtures, bundleOf, decodeFixture, readableSamples } from './helpers.js';

const fixtures = allPprofFixtures();

describe('round trip pprof → OTLP profiles → pprof', () => {
  it('covers every pprof of test/fixtures, files and upload attachments', () => {
    const names = fixtures.map((f) => f.name);
    expect(names.filter((n) => n.endsWith('.pprof') && !n.includes('#')).length).toBe(12);
    expect(names.filter((n) => n.includes('ddtrace-go-v2/upload.body.bin#')).length).toBeGreaterThan(0);
    expect(names.filter((n) => n.includes('ddtrace-go-v1/upload.body.bin#')).length).toBeGreaterThan(0);
    expect(names.filter((n) => n.includes('ddtrace-js/')).length).toBeGreaterThan(0);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    const { plain, pprof } = decodeFixture(fixture);
    const bundle = bundleOf([{ type: 'any', name: fixture.name, data: fixture.data }]);
    const converted = convertBundle(bundle, [{ profile: bundle.profiles[0]!, pprof }]);
    expect(converted.profiles).toBe(pprof.sampleType.length);
    expect(converted.duplicateLabels).toBe(0);

    const wire = toBinary(ExportProfilesServiceRequestSchema, converted.request);
    const [rebuilt, ...more] = requestToPprof(decodeRequest(wire));
    expect(more).toEqual([]);
    // Through pprof's own encoding, as any pprof tool would read it.
    const back = Pprof.decode(rebuilt!.pprof.encode());

    const before = summarizePprof(plain);
    const after = summarizePprof(back.encode());
    expect(after.sampleTypes).toEqual(before.sampleTypes);
    expect(after.sampleCount).toBe(before.sampleCount);
    expect(after.totals).toEqual(before.totals);
    expect(after.periodType).toEqual(before.periodType);
    expect(after.period).toBe(before.period);
    expect(after.timeNanos).toBe(before.timeNanos);
    expect(after.durationNanos).toBe(before.durationNanos);
    expect(readableSamples(back)).toEqual(readableSamples(pprof));
    const comments = (p: Pprof) => p.comment.map((i) => p.stringTable.strings[Number(i)]);
    expect(comments(back)).toEqual(comments(pprof));
  });
});
