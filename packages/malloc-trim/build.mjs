#!/usr/bin/env node
// Builds native/malloc_trim.c into build/malloc_trim.node with the system C compiler ($CC, else
// cc); `pnpm install` runs it. The module is optional: without a compiler, or off Linux with
// glibc, this says so and profcol runs without it (freed memory then stays resident longer).
// Exits 0 either way, so an install never fails on it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(here, 'native', 'malloc_trim.c');
const out = path.join(here, 'build', 'malloc_trim.node');
const glibc = process.platform === 'linux' && Boolean(process.report?.getReport?.().header?.glibcVersionRuntime);

if (!glibc) {
  console.warn(`@profcol/malloc-trim: not built: malloc_trim is glibc's, and this is ${process.platform} without glibc`);
} else {
  const cc = process.env.CC || 'cc';
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    execFileSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-o', tmp, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    fs.renameSync(tmp, out);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    console.warn(`@profcol/malloc-trim: not built (${cc}: ${error.message.split('\n')[0]}); profcol runs without it`);
  }
}
