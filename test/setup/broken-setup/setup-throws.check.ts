// A test file whose beforeAll throws, as when a Go program or a backend cannot be built: vitest
// reports its tests as skipped. Run by ../test-summary.test.ts.
import { beforeAll, expect, it } from 'vitest';

beforeAll(() => {
  throw new Error('go build failed: cannot find module providing package example.com/missing');
});

it('scrapes the Go program', () => {
  expect(true).toBe(true);
});
