/**
 * `server.trustedProxies`: the reverse proxies whose forwarding headers (X-Forwarded-For,
 * X-Forwarded-Proto, Forwarded) are believed. Anyone else's are ignored, since any caller can
 * write them. One place, so /metrics' loopback check and the session cookie's Secure flag judge
 * a proxy alike.
 */

/** An IPv4 address as a dual-stack socket reports it (`::ffff:10.0.0.1`), in its plain form. */
export function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

/** Whether the socket's peer is one of the configured proxies. */
export function fromTrustedProxy(
  socketAddress: string | undefined,
  trustedProxies: readonly string[],
): boolean {
  if (socketAddress === undefined) return false;
  const peer = unmapped(socketAddress);
  return trustedProxies.some((p) => unmapped(p) === peer);
}
