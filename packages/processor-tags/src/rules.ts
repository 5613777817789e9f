/**
 * The tag rules as one pure function, applied the same way to a bundle's tags and to a metric
 * point's attributes: rename, drop and keep act on what was received; then the added tags go
 * in, existing values winning unless `override` is set.
 */
export interface TagRules {
  rename: Record<string, string>;
  drop: readonly string[];
  keep: ReadonlySet<string> | undefined;
  /** The detected `host` and `ip`: the lowest precedence among added tags. */
  detected: Record<string, string>;
  /** Static and environment tags, already resolved (`set` winning over `from_env`): the highest. */
  add: Record<string, string>;
  /** Added tags taken from the resource of each bundle or point: tag → resource key. */
  fromResource: Record<string, string>;
  override: boolean;
}

export interface TagResult {
  tags: Record<string, string>;
  /** Added tags (and rename targets) that met an existing tag with another value. */
  conflicts: number;
}

export function applyTagRules(received: Readonly<Record<string, string>>, resource: Readonly<Record<string, string>>, rules: TagRules): TagResult {
  const tags: Record<string, string> = { ...received };
  let conflicts = 0;
  const put = (key: string, value: string): void => {
    if (key in tags && tags[key] !== value) {
      conflicts++;
      if (!rules.override) return;
    }
    tags[key] = value;
  };

  for (const [from, to] of Object.entries(rules.rename)) {
    if (!(from in tags) || from === to) continue;
    const value = tags[from]!;
    delete tags[from];
    put(to, value);
  }
  for (const key of rules.drop) delete tags[key];
  if (rules.keep) {
    for (const key of Object.keys(tags)) if (!rules.keep.has(key)) delete tags[key];
  }

  const added: Record<string, string> = { ...rules.detected };
  for (const [tag, resourceKey] of Object.entries(rules.fromResource)) {
    const value = resource[resourceKey];
    if (value !== undefined) added[tag] = value;
  }
  // Static and environment tags were written for this processor; they win over resource copies.
  Object.assign(added, rules.add);
  for (const [key, value] of Object.entries(added)) put(key, value);
  return { tags, conflicts };
}
