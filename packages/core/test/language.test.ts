import { describe, expect, it } from 'vitest';
import { isCanonicalLanguage, LANGUAGE_ALIASES, LANGUAGES, resolveLanguage } from '../src/index.js';

describe('language names (one table for every component)', () => {
  it('maps every alias, trimmed and case-insensitively, to its canonical name', () => {
    const cases: Record<string, string> = {
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
    };
    expect(LANGUAGE_ALIASES).toEqual(cases);
    for (const [alias, language] of Object.entries(cases)) {
      expect(resolveLanguage(alias)).toBe(language);
      expect(resolveLanguage(` ${alias.toUpperCase()} `)).toBe(language);
    }
  });

  it('resolves to canonical names only, and every canonical name but unknown resolves to itself', () => {
    expect(LANGUAGES).toEqual(['golang', 'java', 'python', 'nodejs', 'dotnet', 'ruby', 'php', 'cpp', 'rust', 'unknown']);
    for (const target of Object.values(LANGUAGE_ALIASES)) expect(isCanonicalLanguage(target)).toBe(true);
    for (const name of LANGUAGES.filter((l) => l !== 'unknown')) expect(resolveLanguage(name)).toBe(name);
    expect(isCanonicalLanguage('go')).toBe(false);
  });

  it('takes the first candidate that is an alias, and never matches a substring', () => {
    expect(resolveLanguage('javascript', 'go', 'java')).toBe('nodejs');
    expect(resolveLanguage('golang-ish', 'nodejs', 'go')).toBe('nodejs');
    expect(resolveLanguage(undefined, 'gopher', 'go')).toBe('golang');
    expect(resolveLanguage('mongo', 'django')).toBe('unknown');
    expect(resolveLanguage('', 'constructor', '__proto__', 'toString')).toBe('unknown');
    expect(resolveLanguage()).toBe('unknown');
  });
});
