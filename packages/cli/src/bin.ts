#!/usr/bin/env node
import { main } from './main.js';

const code = await main(process.argv.slice(2));
// Let pino and the streams flush; `run` has already stopped every component.
process.exitCode = code;
setTimeout(() => process.exit(code), 100);
