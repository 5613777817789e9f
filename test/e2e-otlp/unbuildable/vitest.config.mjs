// Run only by ../unbuildable-backend.test.ts (its own vitest, with a go that does not exist).
export default { test: { include: ['*.check.ts'] } };
