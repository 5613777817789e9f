#!/usr/bin/env node
import { main } from './main.js';

// `profcol components | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await main(process.argv.slice(2));
// Let pino and the streams flush; `run` has already stopped every component.
process.exitCode = code;
setTimeout(() => process.exit(code), 100);
