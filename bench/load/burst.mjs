#!/usr/bin/env node
// Sends N dd-trace v4 uploads at once, each on its own connection, and prints one JSON object:
// answers by status, transport errors (with a sample), and how long the slowest took. Each upload
// is an attachment file (as given: gzip, zstd or raw) followed by an event part naming it, like
// dd-trace-go's; every upload has its own runtime-id, so de-duplication treats them as distinct.
// Usage: node bench/load/burst.mjs --url=U --attachment=FILE --count=8 [--name=cpu.pprof] [--timeout-s=120]
import fs from 'node:fs';
import http from 'node:http';

const flags = Object.fromEntries(process.argv.slice(2).map((a) => /^--([^=]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const url = new URL(flags.url);
const attachment = fs.readFileSync(flags.attachment);
const count = Number(flags.count ?? 8);
const name = flags.name ?? 'cpu.pprof';
const timeoutMs = Number(flags['timeout-s'] ?? 120) * 1000;
const boundary = 'profcolbenchboundary0123456789';

const head = Buffer.from(
  `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
);
function eventPart(i) {
  const now = Date.now();
  const event = {
    start: new Date(now - 60_000).toISOString(),
    end: new Date(now).toISOString(),
    attachments: [name],
    tags_profiler: `service:profcol-membench,env:bench,runtime:go,runtime-id:00000000-0000-4000-9000-${String(i).padStart(12, '0')},profile_seq:1`,
    family: 'go',
    version: '4',
  };
  return Buffer.from(
    `\r\n--${boundary}\r\nContent-Disposition: form-data; name="event"; filename="event.json"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(event)}\r\n--${boundary}--\r\n`,
  );
}

/** The `reason` of a profcol refusal body ({ error, reason }), or '' for anything else. */
function reasonOf(text) {
  try {
    return JSON.parse(text).reason ?? '';
  } catch {
    return '';
  }
}

function send(i) {
  const started = performance.now();
  return new Promise((resolve) => {
    const tail = eventPart(i);
    const request = http.request(url, {
      method: 'POST',
      agent: false,
      timeout: timeoutMs,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + attachment.length + tail.length },
    });
    const done = (r) => resolve({ ...r, ms: performance.now() - started });
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => done({ status: response.statusCode, retryAfter: response.headers['retry-after'], reason: reasonOf(text) }));
      response.on('error', (error) => done({ error: error.message }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error) => done({ error: error.message }));
    request.write(head);
    request.write(attachment);
    request.end(tail);
  });
}

const started = performance.now();
const results = await Promise.all(Array.from({ length: count }, (_, i) => send(i)));
const statuses = {};
const reasons = {};
const errors = [];
for (const r of results) {
  if (r.error) errors.push(r.error);
  else {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.reason) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
  }
}
console.log(
  JSON.stringify({
    sent: count,
    bodyBytes: head.length + attachment.length + eventPart(0).length,
    statuses,
    reasons,
    retryAfterOnRefusals: results.filter((r) => (r.status === 429 || r.status === 503) && r.retryAfter !== undefined).length,
    transportErrors: errors.length,
    errorSample: errors[0],
    slowestMs: Math.max(...results.map((r) => r.ms)),
    elapsedS: (performance.now() - started) / 1000,
  }),
);
