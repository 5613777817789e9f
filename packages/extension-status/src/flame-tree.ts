/**
 * The compact call tree a flame graph is drawn from, computed from a decoded pprof profile:
 * d3-flame-graph's `{ name, value, children }`, bounded in nodes so that a profile of any size
 * costs the browser the same.
 */
import type { Profile } from 'pprof-format';

export interface FlameNode {
  name: string;
  /** The sum of the chosen sample value over every sample whose stack passes through this frame. */
  value: number;
  children: FlameNode[];
}

export interface FlameTree {
  root: FlameNode;
  /** The sample type the values are (`cpu`, `inuse_space`) and its unit. */
  sampleType: string;
  unit: string;
  /** Frames in the full tree, and frames kept (at most `maxNodes`, the root included). */
  totalNodes: number;
  keptNodes: number;
}

/** Which sample type a flame graph of each profile type shows, first one present wins. */
const PREFERRED_SAMPLE_TYPES: Record<string, string[]> = {
  cpu: ['cpu', 'samples'],
  heap: ['inuse_space', 'alloc_space'],
};

interface BuildNode {
  name: string;
  value: number;
  children: Map<string, BuildNode>;
}

/** The index of the sample type to draw for a profile of `profileType` (the last one when none is preferred, as `go tool pprof` does). */
export function chooseSampleType(profile: Profile, profileType: string): number {
  const names = profile.sampleType.map((t) => profile.stringTable.strings[Number(t.type)] ?? '');
  for (const wanted of PREFERRED_SAMPLE_TYPES[profileType] ?? []) {
    const index = names.indexOf(wanted);
    if (index >= 0) return index;
  }
  return names.length - 1;
}

/**
 * Builds the call tree (root → callers → callees, inlined frames expanded as `go tool pprof`
 * shows them) and keeps its `maxNodes` heaviest frames. A frame's children never weigh more
 * than the frame, so taking frames heaviest first, from the root down, keeps every kept frame's
 * caller: the tree stays connected, and what was left out shows as the gap under its caller.
 */
export function flameTree(profile: Profile, profileType: string, maxNodes: number): FlameTree {
  const valueIndex = chooseSampleType(profile, profileType);
  const strings = profile.stringTable.strings;
  const functionNames = new Map<string, string>();
  for (const fn of profile.function) functionNames.set(String(fn.id), strings[Number(fn.name)] || `func#${String(fn.id)}`);
  // Each location as its frames from caller to callee: pprof lists a location's inlined
  // functions callee first, the function they were inlined into last.
  const locationFrames = new Map<string, string[]>();
  for (const location of profile.location) {
    const frames = location.line.map((line) => functionNames.get(String(line.functionId)) ?? `func#${String(line.functionId)}`).reverse();
    locationFrames.set(String(location.id), frames.length > 0 ? frames : [`0x${Number(location.address).toString(16)}`]);
  }

  const root: BuildNode = { name: 'root', value: 0, children: new Map() };
  let totalNodes = 1;
  for (const sample of profile.sample) {
    const value = Number(sample.value[valueIndex] ?? 0);
    if (value <= 0) continue;
    root.value += value;
    let node = root;
    // A sample's stack is leaf first; the tree is root first.
    for (let i = sample.locationId.length - 1; i >= 0; i--) {
      for (const name of locationFrames.get(String(sample.locationId[i])) ?? ['?']) {
        let child = node.children.get(name);
        if (!child) {
          child = { name, value: 0, children: new Map() };
          node.children.set(name, child);
          totalNodes++;
        }
        child.value += value;
        node = child;
      }
    }
  }

  const sampleType = profile.sampleType[valueIndex];
  return {
    root: keepHeaviest(root, maxNodes),
    sampleType: sampleType ? (strings[Number(sampleType.type)] ?? '') : '',
    unit: sampleType ? (strings[Number(sampleType.unit)] ?? '') : '',
    totalNodes,
    keptNodes: Math.min(totalNodes, Math.max(1, maxNodes)),
  };
}

/** The connected subtree of the `maxNodes` heaviest frames, children heaviest first. */
function keepHeaviest(root: BuildNode, maxNodes: number): FlameNode {
  const kept = new Map<BuildNode, FlameNode>();
  const out: FlameNode = { name: root.name, value: root.value, children: [] };
  kept.set(root, out);
  const frontier = new MaxHeap<{ node: BuildNode; parent: FlameNode }>();
  for (const child of root.children.values()) frontier.push(child.value, { node: child, parent: out });
  let count = 1;
  while (count < maxNodes) {
    const next = frontier.pop();
    if (!next) break;
    const made: FlameNode = { name: next.node.name, value: next.node.value, children: [] };
    next.parent.children.push(made);
    count++;
    for (const child of next.node.children.values()) frontier.push(child.value, { node: child, parent: made });
  }
  sortChildren(out);
  return out;
}

function sortChildren(node: FlameNode): void {
  const stack = [node];
  while (stack.length > 0) {
    const current = stack.pop()!;
    current.children.sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
    stack.push(...current.children);
  }
}

/** A binary max-heap by priority: the frontier of the heaviest-first walk. */
class MaxHeap<T> {
  private readonly priorities: number[] = [];
  private readonly items: T[] = [];

  push(priority: number, item: T): void {
    let i = this.items.length;
    this.priorities.push(priority);
    this.items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.priorities[parent]! >= priority) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): T | undefined {
    if (this.items.length === 0) return undefined;
    const top = this.items[0];
    const lastPriority = this.priorities.pop()!;
    const lastItem = this.items.pop()!;
    if (this.items.length > 0) {
      this.priorities[0] = lastPriority;
      this.items[0] = lastItem;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let largest = i;
        if (left < this.items.length && this.priorities[left]! > this.priorities[largest]!) largest = left;
        if (right < this.items.length && this.priorities[right]! > this.priorities[largest]!) largest = right;
        if (largest === i) break;
        this.swap(i, largest);
        i = largest;
      }
    }
    return top;
  }

  private swap(a: number, b: number): void {
    [this.priorities[a], this.priorities[b]] = [this.priorities[b]!, this.priorities[a]!];
    [this.items[a], this.items[b]] = [this.items[b]!, this.items[a]!];
  }
}
