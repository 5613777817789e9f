import { hostname, networkInterfaces } from 'node:os';

/** This machine's hostname and first non-internal address (IPv4 preferred), for `detect_host`. */
export function detectHost(): { host: string; ip?: string } {
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((address) => address !== undefined && !address.internal);
  const ip = addresses.find((a) => a!.family === 'IPv4') ?? addresses.find((a) => a!.family === 'IPv6');
  return ip ? { host: hostname(), ip: ip.address } : { host: hostname() };
}
