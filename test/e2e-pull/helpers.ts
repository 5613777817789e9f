/** Shared helpers of the pull-mode end-to-end tests. */
import { readFileSync } from 'node:fs';
import type { ProfileBundle } from '@profcol/core';
import { createTestSettings, CollectingConsumer, type TestSettings } from '@profcol/core/testing';
import { PprofDecodeProcessor, pprofDecodeConfigSchema } from '@profcol/processor-pprofdecode';
import { PprofReceiver, pprofReceiverConfigSchema, type PprofReceiverConfig } from '@profcol/receiver-pprof';

const fixtures = new URL('../fixtures/', import.meta.url);

/** A go-pprof fixture exactly as Go's net/http/pprof served it (gzip). */
export function goFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`go-pprof/${name}.pprof`, fixtures)));
}

export function parseReceiverConfig(input: Record<string, unknown>): PprofReceiverConfig {
  const result = pprofReceiverConfigSchema.parse(input);
  if (!result.ok) throw new Error(`bad receiver config: ${JSON.stringify(result.issues)}`);
  return result.value;
}

/**
 * The pull pipeline in-process: the `pprof` receiver (scheduling injected: rounds run when
 * the test calls `scrapeOnce()`) feeding `pprof_decode`, feeding a collecting consumer.
 */
export function pullPipeline(config: Record<string, unknown>, id = 'pprof') {
  const receiverSettings: TestSettings = createTestSettings({ id, kind: 'receiver' });
  const processorSettings = createTestSettings({ id: 'pprof_decode', kind: 'processor', pipeline: 'go' });
  const decodeConfig = pprofDecodeConfigSchema.parse({});
  if (!decodeConfig.ok) throw new Error('pprof_decode defaults do not parse');
  const decode = new PprofDecodeProcessor(processorSettings, decodeConfig.value);
  const sink = new CollectingConsumer();
  const receiver = new PprofReceiver(
    receiverSettings,
    parseReceiverConfig(config),
    { consume: async (batch) => sink.consume(await decode.process(batch)) },
    { autoStart: false },
  );
  return { receiver, sink, registry: receiverSettings.registry, decodeRegistry: processorSettings.registry };
}

export function profileOf(bundle: ProfileBundle, type: string) {
  const profile = bundle.profiles.find((p) => p.type === type);
  if (!profile) throw new Error(`bundle has no ${type} profile (has ${bundle.profiles.map((p) => p.type).join(', ')})`);
  return profile;
}

export function totalOf(bundle: ProfileBundle, type: string, sampleType: string): number {
  const decoded = profileOf(bundle, type).decoded!;
  const index = decoded.sampleTypes.findIndex((t) => t.type === sampleType);
  if (index < 0) throw new Error(`${type} has no ${sampleType}`);
  return decoded.totals[index]!;
}

export function indexOf(bundle: ProfileBundle, type: string, sampleType: string): number {
  return profileOf(bundle, type).decoded!.sampleTypes.findIndex((t) => t.type === sampleType);
}

export const MiB = 1024 * 1024;
