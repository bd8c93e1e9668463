/**
 * CIDR arithmetic for NetworkPolicy ipBlocks: parsing IPv4 and IPv6 blocks, host bits, containment.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Construct } from 'constructs';
import { invalid } from '../internal/validation';

export interface Cidr {
  readonly v6: boolean;
  readonly prefix: number;
  readonly network: bigint;
  contains(address: bigint): boolean;
}

/** A CIDR with its host bits zero, IPv4 (`203.0.113.0/24`) or IPv6 (`2001:db8::/32`). */
export function requireCidr(scope: Construct, prop: string, cidr: string): Cidr {
  const fail = (problem: string, fix: string): never => invalid(scope, prop, cidr, problem, fix);
  const match = typeof cidr === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(cidr) : null;
  if (!match) fail('is not a CIDR', 'write an address and a prefix length, e.g. "203.0.113.0/24"');
  const [, address, prefixText] = match as RegExpExecArray;
  const v6 = isIPv6(address);
  if (!v6 && !isIPv4(address))
    fail('does not start with an IP address', 'e.g. "203.0.113.0/24" or "2001:db8::/32"');
  const bits = v6 ? 128 : 32;
  const prefix = Number(prefixText);
  if (prefix > bits) fail(`has a prefix longer than ${bits}`, `use a prefix length 0–${bits}`);
  const value = v6 ? ipv6ToBigInt(address) : ipv4ToBigInt(address);
  const hostBits = BigInt(bits - prefix);
  const network = (value >> hostBits) << hostBits;
  if (network !== value) {
    fail(
      'has host bits set',
      `use the network address of the block, e.g. "${address.includes(':') ? '…' : bigIntToIpv4(network)}/${prefix}"`,
    );
  }
  return { v6, prefix, network, contains: (a) => a >> hostBits === network >> hostBits };
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}
