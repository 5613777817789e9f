// Run only by ../test-summary.test.ts.
export default { test: { include: ['*.check.ts'] } };
