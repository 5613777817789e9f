/**
 * profcol's language names: the one table every component resolves a profiled program's
 * language with (`resource.language`), so receivers, processors and exporters agree.
 */

/** The canonical language names; `unknown` when nothing matched. */
export const LANGUAGES = ['golang', 'java', 'python', 'nodejs', 'dotnet', 'ruby', 'php', 'cpp', 'rust', 'unknown'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Exact aliases (lowercase, trimmed) → canonical names. Never matched by substring. */
export const LANGUAGE_ALIASES: Readonly<Record<string, Exclude<Language, 'unknown'>>> = Object.freeze({
  go: 'golang',
  golang: 'golang',
  java: 'java',
  jvm: 'java',
  kotlin: 'java',
  scala: 'java',
  python: 'python',
  javascript: 'nodejs',
  js: 'nodejs',
  node: 'nodejs',
  nodejs: 'nodejs',
  'node.js': 'nodejs',
  dotnet: 'dotnet',
  '.net': 'dotnet',
  'c#': 'dotnet',
  csharp: 'dotnet',
  ruby: 'ruby',
  php: 'php',
  cpp: 'cpp',
  'c++': 'cpp',
  cplusplus: 'cpp',
  rust: 'rust',
  'pyroscope-rs': 'rust',
});

/** Whether `value` is already a canonical name (exactly, as resolveLanguage returns it). */
export function isCanonicalLanguage(value: string): value is Language {
  return (LANGUAGES as readonly string[]).includes(value);
}

/**
 * The language of the first candidate that is a known alias (trimmed, case-insensitive, exact
 * match); `unknown` when none is. Callers pass their sources in priority order, e.g. an upload's
 * `language` tag, then its `runtime`, then its `family`.
 */
export function resolveLanguage(...candidates: (string | undefined)[]): Language {
  for (const value of candidates) {
    if (value === undefined) continue;
    const key = value.trim().toLowerCase();
    // Own keys only: `constructor` or `__proto__` are not languages.
    if (Object.hasOwn(LANGUAGE_ALIASES, key)) return LANGUAGE_ALIASES[key]!;
  }
  return 'unknown';
}
