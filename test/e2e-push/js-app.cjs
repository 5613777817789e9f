// A tiny Node program for the dd-trace-js end-to-end test, started as
// `node -r dd-trace/init js-app.cjs`: it burns a little CPU and allocates, so that the
// wall and space profiles have content, prints one ready line, and exits by itself after
// $APP_EXIT_AFTER_MS (default 60 s) or as soon as its parent is gone.
'use strict';

const retained = [];
setInterval(() => {
  const end = Date.now() + 15;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(Math.random());
  retained.push(Buffer.alloc(32 * 1024, x & 0xff));
  if (retained.length > 256) retained.splice(0, 128);
}, 50);

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(3);
}, 500).unref();
setTimeout(() => process.exit(0), Number(process.env.APP_EXIT_AFTER_MS ?? 60_000)).unref();

process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
