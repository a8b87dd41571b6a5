/**
 * Client allow-list: IPv4/IPv6 addresses and CIDR ranges ("192.168.1.0/24", "10.0.0.5", "::1").
 * IPv4 clients that arrive on a dual-stack socket as ::ffff:a.b.c.d match IPv4 entries.
 */
import net from 'node:net';
import { EdgeMlError } from '../errors';

export type AllowList = (address: string | undefined) => boolean;

interface Subnet {
  ip: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

// validated here: BlockList itself accepts some malformed input silently
function parseEntry(entry: string): Subnet {
  const [ip, bits, ...rest] = entry.split('/');
  const family = net.isIP(ip ?? '');
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
  if (!family || rest.length || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32) || (bits !== undefined && bits.trim() === '')) {
    throw new EdgeMlError('EDGEML_MODBUS_SERVER_ALLOW_LIST', `Allow-list entry "${entry}" is not an IP address or CIDR range`, { entry });
  }
  return { ip: ip!, prefix, family: family === 6 ? 'ipv6' : 'ipv4' };
}

/** Compiles an allow-list; empty text (or only separators) allows every client. */
export function compileAllowList(text: string | readonly string[] | undefined): AllowList {
  const entries = (Array.isArray(text) ? text : String(text ?? '').split(/[\s,;]+/)).map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) return () => true;
  const list = new net.BlockList();
  for (const entry of entries) {
    const { ip, prefix, family } = parseEntry(entry);
    list.addSubnet(ip, prefix, family);
  }
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1]!, 'ipv4') || list.check(address, 'ipv6');
    const family = net.isIP(address);
    if (!family) return false;
    return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
