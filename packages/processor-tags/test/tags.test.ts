import { describe, expect, it } from 'vitest';
import type { Batch, MetricPoint, ProfileBundle } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import tagsPlugin, { createTagsProcessor, tagsProcessor, type TagsOptions } from '../src/index.js';

function bundle(resource: Record<string, string>, tags: Record<string, string> = {}): ProfileBundle {
  return {
    source: 'ddtrace',
    resource,
    tags,
    window: { startNanos: 0n, endNanos: 60_000_000_000n },
    profiles: [],
  };
}

function point(attributes: Record<string, string>, resource: Record<string, string> = {}): MetricPoint {
  return { name: 'prof_go_cpu_cores', unit: '{cpu}', kind: 'gauge', value: 0.1, timeNanos: 60_000_000_000n, attributes, resource };
}

function makeTags(config: Record<string, unknown>, options: TagsOptions = {}) {
  const parsed = tagsProcessor.config.parse(config);
  if (!parsed.ok) throw new Error(parsed.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const settings = createTestSettings({ id: 'tags', kind: 'processor' });
  const processor = createTagsProcessor(settings, parsed.value, options);
  return {
    settings,
    processor,
    async run(batch: Partial<Batch>): Promise<Batch> {
      await processor.start?.(settings.host);
      return processor.process({ bundles: batch.bundles ?? [], metrics: batch.metrics ?? [] });
    },
  };
}

describe('tags processor', () => {
  it('sets static tags on bundles and on metric point attributes alike', async () => {
    const batch = await makeTags({ set: { team: 'payments', region: 'eu-west-1' } }).run({
      bundles: [bundle({ service: 'checkout' }, { version: '1' })],
      metrics: [point({ service: 'checkout' })],
    });
    expect(batch.bundles[0]!.tags).toEqual({ version: '1', team: 'payments', region: 'eu-west-1' });
    expect(batch.metrics[0]!.attributes).toEqual({ service: 'checkout', team: 'payments', region: 'eu-west-1' });
  });

  it('keeps an existing value by default (override: false) and counts the conflict', async () => {
    const t = makeTags({ set: { env: 'prod', team: 'payments' } });
    const batch = await t.run({ bundles: [bundle({}, { env: 'staging' })] });
    expect(batch.bundles[0]!.tags).toEqual({ env: 'staging', team: 'payments' });
    expect(t.settings.registry.value('profcol_processor_tags_conflicts_total', { outcome: 'kept' })).toBe(1);
  });

  it('replaces an existing value with override: true', async () => {
    const t = makeTags({ set: { env: 'prod' }, override: true });
    const batch = await t.run({ bundles: [bundle({}, { env: 'staging' })], metrics: [point({ env: 'staging' })] });
    expect(batch.bundles[0]!.tags.env).toBe('prod');
    expect(batch.metrics[0]!.attributes.env).toBe('prod');
    expect(t.settings.registry.value('profcol_processor_tags_conflicts_total', { outcome: 'overridden' })).toBe(2);
  });

  it('does not count a conflict when the existing value is the same', async () => {
    const t = makeTags({ set: { env: 'prod' } });
    await t.run({ bundles: [bundle({}, { env: 'prod' })] });
    expect(t.settings.registry.value('profcol_processor_tags_conflicts_total')).toBe(0);
  });

  it('reads from_env once at start, and sets nothing (logged and counted) for an unset or empty variable', async () => {
    const env: NodeJS.ProcessEnv = { CLUSTER_NAME: 'eu-1', EMPTY: '' };
    const t = makeTags({ from_env: { cluster: 'CLUSTER_NAME', zone: 'ZONE', empty: 'EMPTY' } }, { env });
    const first = await t.run({ bundles: [bundle({})] });
    env.CLUSTER_NAME = 'changed';
    const second = await t.processor.process({ bundles: [bundle({})], metrics: [] });
    expect(first.bundles[0]!.tags).toEqual({ cluster: 'eu-1' });
    expect(second.bundles[0]!.tags).toEqual({ cluster: 'eu-1' });
    expect(t.settings.registry.value('profcol_processor_tags_env_missing_total')).toBe(2);
  });

  it('lets set win over from_env for the same tag', async () => {
    const batch = await makeTags({ from_env: { team: 'TEAM' }, set: { team: 'static' } }, { env: { TEAM: 'from-env' } }).run({ bundles: [bundle({})] });
    expect(batch.bundles[0]!.tags.team).toBe('static');
  });

  it("copies resource keys with from_resource: the bundle's resource for bundles, the point's for points", async () => {
    const batch = await makeTags({ from_resource: { instance: 'instance', svc: 'service' } }).run({
      bundles: [bundle({ instance: 'http://a:6060', service: 'payments' })],
      metrics: [point({}, { instance: 'http://b:6060' })],
    });
    expect(batch.bundles[0]!.tags).toEqual({ instance: 'http://a:6060', svc: 'payments' });
    expect(batch.metrics[0]!.attributes).toEqual({ instance: 'http://b:6060' });
  });

  it('renames received tags; the rename target follows the override rule', async () => {
    const keep = await makeTags({ rename: { 'dd.env': 'env', team_name: 'team' } }).run({
      bundles: [bundle({}, { 'dd.env': 'prod', team_name: 'pay', env: 'old' })],
    });
    expect(keep.bundles[0]!.tags).toEqual({ env: 'old', team: 'pay' });
    const replace = await makeTags({ rename: { 'dd.env': 'env' }, override: true }).run({ bundles: [bundle({}, { 'dd.env': 'prod', env: 'old' })] });
    expect(replace.bundles[0]!.tags).toEqual({ env: 'prod' });
  });

  it('drops listed tags, and with keep removes every received tag not listed', async () => {
    const dropped = await makeTags({ drop: ['runtime-id', 'profile_seq'] }).run({
      bundles: [bundle({}, { 'runtime-id': 'x', profile_seq: '3', env: 'prod' })],
    });
    expect(dropped.bundles[0]!.tags).toEqual({ env: 'prod' });
    const kept = await makeTags({ keep: ['env', 'version'], set: { team: 'pay' } }).run({
      metrics: [point({ env: 'prod', version: '2', 'runtime-id': 'x', pid: '42' })],
    });
    expect(kept.metrics[0]!.attributes).toEqual({ env: 'prod', version: '2', team: 'pay' });
  });

  it('adds host and ip of this machine only with detect_host: true, below every other source', async () => {
    const detect = () => ({ host: 'collector-7', ip: '10.1.2.3' });
    const off = await makeTags({}, { detectHost: detect }).run({ bundles: [bundle({})] });
    expect(off.bundles[0]!.tags).toEqual({});
    const on = await makeTags({ detect_host: true, set: { ip: '192.0.2.1' } }, { detectHost: detect }).run({
      bundles: [bundle({})],
      metrics: [point({ host: 'app-1' })],
    });
    expect(on.bundles[0]!.tags).toEqual({ host: 'collector-7', ip: '192.0.2.1' });
    expect(on.metrics[0]!.attributes).toEqual({ host: 'app-1', ip: '192.0.2.1' });
  });

  it('detects the real hostname and an address of this machine', async () => {
    const { hostname } = await import('node:os');
    const batch = await makeTags({ detect_host: true }).run({ bundles: [bundle({})] });
    expect(batch.bundles[0]!.tags.host).toBe(hostname());
  });

  it('applies only to the bundles and points that `match` selects by service and env', async () => {
    const t = makeTags({ match: { service: ['checkout', 'cart'], env: ['prod'] }, set: { team: 'pay' } });
    const batch = await t.run({
      bundles: [
        bundle({ service: 'checkout', env: 'prod' }),
        bundle({ service: 'checkout', env: 'staging' }),
        bundle({ service: 'search', env: 'prod' }),
        bundle({}, { service: 'cart', env: 'prod' }),
      ],
      metrics: [point({ service: 'cart' }, { env: 'prod' }), point({ service: 'cart', env: 'dev' })],
    });
    expect(batch.bundles.map((b) => b.tags.team)).toEqual(['pay', undefined, undefined, 'pay']);
    expect(batch.metrics.map((p) => p.attributes.team)).toEqual(['pay', undefined]);
    expect(t.settings.registry.value('profcol_processor_tags_unmatched_total')).toBe(3);
    expect(t.settings.registry.value('profcol_processor_tags_matched_total', { item: 'bundle' })).toBe(2);
    expect(t.settings.registry.value('profcol_processor_tags_matched_total', { item: 'metric_point' })).toBe(1);
  });

  it('touches only bundles or only metric points when apply_to says so', async () => {
    const batch = await makeTags({ set: { team: 'pay' }, apply_to: ['metrics'] }).run({ bundles: [bundle({})], metrics: [point({})] });
    expect(batch.bundles[0]!.tags).toEqual({});
    expect(batch.metrics[0]!.attributes).toEqual({ team: 'pay' });
  });

  it('leaves profiles, resource, values and times untouched', async () => {
    const original = bundle({ service: 'checkout' }, { env: 'prod' });
    const batch = await makeTags({ set: { team: 'pay' }, drop: ['env'] }).run({ bundles: [original], metrics: [point({})] });
    expect(batch.bundles[0]!.resource).toEqual({ service: 'checkout' });
    expect(batch.bundles[0]!.window).toEqual(original.window);
    expect(batch.metrics[0]!.value).toBe(0.1);
  });
});

describe('tags configuration', () => {
  it('rejects a from_env value that is not a variable name', () => {
    const parsed = tagsProcessor.config.parse({ from_env: { cluster: '${env:CLUSTER}' } });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]).toMatchObject({ path: ['from_env'], message: expect.stringContaining('not an environment variable name') });
  });

  it('rejects an empty rename target and an unknown apply_to', () => {
    const parsed = tagsProcessor.config.parse({ rename: { a: '' }, apply_to: ['traces'] });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues.map((i) => i.path.join('.'))).toEqual(['rename.a', 'apply_to.0']);
  });

  it('suggests the right key for a typo', () => {
    const parsed = tagsProcessor.config.parse({ overide: true });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]!.message).toContain('did you mean "override"');
  });

  it('is a plugin with the tags processor', () => {
    expect(tagsPlugin.name).toBe('@profcol/processor-tags');
    expect(tagsPlugin.components).toEqual([tagsProcessor]);
    expect(tagsProcessor.type).toBe('tags');
  });
});
