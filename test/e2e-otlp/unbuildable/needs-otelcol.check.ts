// A real-backend test file as the others in test/e2e-otlp, run by ../unbuildable-backend.test.ts
// where the Collector cannot be built.
import { expect, it } from 'vitest';
import { useBackend } from '../helpers.js';

const backend = useBackend('otelcol');

it('exports to the Collector', (ctx) => {
  backend.need(ctx);
  expect.unreachable('the Collector was built');
});

it('exports to the Collector again', (ctx) => {
  backend.need(ctx);
  expect.unreachable('the Collector was built');
});
