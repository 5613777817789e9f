/**
 * A tiny real DNS server on 127.0.0.1 (UDP, dns-packet for the wire format), so dns_sd is
 * tested through the real `node:dns` resolver (c-ares) pointed at it with `servers` — the
 * system's resolver configuration cannot be changed by a test. Answers what `zone` holds now
 * (tests change it between refreshes): an unknown name is NXDOMAIN, a known name without
 * records of the asked type is an empty answer (NODATA), and `failing` names get SERVFAIL.
 */
import { createSocket } from 'node:dgram';
import dnsPacket, { type Answer } from 'dns-packet';

export interface SrvRecord {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface Zone {
  [name: string]: { SRV?: SrvRecord[]; A?: string[]; AAAA?: string[] } | 'SERVFAIL';
}

export interface FakeDnsServer {
  /** `127.0.0.1:<port>`, as `dns_sd.servers` takes it. */
  server: string;
  zone: Zone;
  /** Questions received, as `TYPE name`. */
  readonly questions: string[];
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 };

export async function startFakeDnsServer(zone: Zone): Promise<FakeDnsServer> {
  const socket = createSocket('udp4');
  const questions: string[] = [];
  const fake: FakeDnsServer = {
    server: '',
    zone,
    questions,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (message, peer) => {
    const query = dnsPacket.decode(message);
    const question = query.questions?.[0];
    if (!question) return;
    questions.push(`${question.type} ${question.name}`);
    const entry = fake.zone[question.name];
    let rcode = RCODE.NOERROR;
    const answers: Answer[] = [];
    if (entry === undefined) rcode = RCODE.NXDOMAIN;
    else if (entry === 'SERVFAIL') rcode = RCODE.SERVFAIL;
    else if (question.type === 'SRV') {
      for (const r of entry.SRV ?? [])
        answers.push({
          type: 'SRV',
          name: question.name,
          ttl: 5,
          data: { target: r.target, port: r.port, priority: r.priority ?? 10, weight: r.weight ?? 10 },
        });
    } else if (question.type === 'A') {
      for (const address of entry.A ?? []) answers.push({ type: 'A', name: question.name, ttl: 5, data: address });
    } else if (question.type === 'AAAA') {
      for (const address of entry.AAAA ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: 5, data: address });
    }
    const response = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      // dns-packet carries the response code in the low four bits of the flags.
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
      questions: [question],
      answers,
    });
    socket.send(response, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  fake.server = `127.0.0.1:${socket.address().port}`;
  return fake;
}
