import { describe, expect, it } from 'vitest';
import { Function as PprofFunction, Line, Location, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { flameTree, type FlameNode } from '../src/flame-tree.js';

/** A CPU profile whose stacks are given root first, e.g. `[['main.main', 'main.work'], 30]`. */
function cpuProfile(stacks: [string[], number][], inlined: Record<string, string> = {}): Profile {
  const strings = new StringTable();
  const functions = new Map<string, PprofFunction>();
  const fn = (name: string) => {
    let f = functions.get(name);
    if (!f) functions.set(name, (f = new PprofFunction({ id: functions.size + 1, name: strings.dedup(name) })));
    return f;
  };
  const locations = new Map<string, Location>();
  // `inlined[callee] = caller`: one location holding both, callee first as Go writes it.
  const loc = (name: string) => {
    let l = locations.get(name);
    if (!l) {
      const lines = [new Line({ functionId: fn(name).id }), ...(inlined[name] ? [new Line({ functionId: fn(inlined[name]!).id })] : [])];
      locations.set(name, (l = new Location({ id: locations.size + 1, line: lines })));
    }
    return l;
  };
  const samples = stacks.map(([stack, nanos]) => new Sample({ locationId: [...stack].reverse().map((name) => loc(name).id), value: [1, nanos] }));
  return new Profile({
    sampleType: [
      new ValueType({ type: strings.dedup('samples'), unit: strings.dedup('count') }),
      new ValueType({ type: strings.dedup('cpu'), unit: strings.dedup('nanoseconds') }),
    ],
    sample: samples,
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
  });
}

function child(node: FlameNode, ...path: string[]): FlameNode | undefined {
  let current: FlameNode | undefined = node;
  for (const name of path) current = current?.children.find((c) => c.name === name);
  return current;
}

function countNodes(node: FlameNode): number {
  return 1 + node.children.reduce((sum, c) => sum + countNodes(c), 0);
}

describe('flame tree', () => {
  it('sums CPU time along each call path, root first, and says which sample type it drew', () => {
    const tree = flameTree(
      cpuProfile([
        [['main.main', 'main.spinWorker'], 70],
        [['main.main', 'main.idle'], 20],
        [['runtime.gcBgMarkWorker'], 10],
      ]),
      'cpu',
      100,
    );
    expect(tree.sampleType).toBe('cpu');
    expect(tree.unit).toBe('nanoseconds');
    expect(tree.root.value).toBe(100);
    expect(child(tree.root, 'main.main')?.value).toBe(90);
    expect(child(tree.root, 'main.main', 'main.spinWorker')?.value).toBe(70);
    expect(
      tree.root.children.map((c) => c.name),
      'heaviest first',
    ).toEqual(['main.main', 'runtime.gcBgMarkWorker']);
  });

  it('shows an inlined function as its own frame under the function it was inlined into', () => {
    const tree = flameTree(cpuProfile([[['main.main', 'main.spinWorker'], 5]], { 'main.spinWorker': 'main.run' }), 'cpu', 100);
    expect(child(tree.root, 'main.main', 'main.run', 'main.spinWorker')?.value).toBe(5);
  });

  it('keeps at most max_flame_nodes frames, the heaviest, every one under its caller', () => {
    const stacks: [string[], number][] = [];
    for (let i = 0; i < 50; i++) stacks.push([['main.main', `main.worker${i}`, `main.leaf${i}`], i + 1]);
    const tree = flameTree(cpuProfile(stacks), 'cpu', 10);
    expect(countNodes(tree.root)).toBe(10);
    expect(tree.totalNodes).toBe(1 + 1 + 50 + 50);
    // root, main.main, then the heaviest workers and their leaves (a leaf weighs as much as its worker).
    const kept = child(tree.root, 'main.main')!.children.map((c) => c.name);
    expect(kept[0]).toBe('main.worker49');
    expect(kept).not.toContain('main.worker0');
    expect(tree.root.value, 'what was left out still counts in the total').toBe((50 * 51) / 2);
  });

  it('draws a heap profile by in-use space', () => {
    const strings = new StringTable();
    const names = ['alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space'];
    const profile = new Profile({
      sampleType: names.map((n) => new ValueType({ type: strings.dedup(n), unit: strings.dedup(n.endsWith('space') ? 'bytes' : 'count') })),
      sample: [new Sample({ locationId: [1], value: [1, 2, 3, 4096] })],
      location: [new Location({ id: 1, line: [new Line({ functionId: 1 })] })],
      function: [new PprofFunction({ id: 1, name: strings.dedup('main.retainHeap') })],
      stringTable: strings,
    });
    const tree = flameTree(profile, 'heap', 100);
    expect(tree.sampleType).toBe('inuse_space');
    expect(child(tree.root, 'main.retainHeap')?.value).toBe(4096);
  });
});
