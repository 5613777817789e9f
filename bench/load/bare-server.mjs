#!/usr/bin/env node
// The ceiling of bench/push.mjs: a bare node:http server that reads each request body to the
// end and answers 200 with an empty body. No parsing, no decompression: what Node's HTTP stack
// alone costs per upload on this machine. Prints "listening http://host:port" once listening.
// Usage: node bench/load/bare-server.mjs [--port=0]
import http from 'node:http';

const port = Number(/^--port=(\d+)$/.exec(process.argv[2] ?? '')?.[1] ?? 0);
const server = http.createServer((request, response) => {
  let bytes = 0;
  request.on('data', (chunk) => (bytes += chunk.length));
  request.on('end', () => response.writeHead(200, { 'content-length': 0 }).end());
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
