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

/**
 * The address a request came from, for per-source limits: behind a load balancer every socket
 * is the balancer's, so all clients would share one budget. When the peer is a trusted proxy,
 * the last X-Forwarded-For entry (the one that proxy appended: earlier ones are the sender's
 * word) is the caller; a chain of trusted proxies is walked from the right.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trustedProxies: readonly string[],
): string | undefined {
  if (!fromTrustedProxy(socketAddress, trustedProxies) || forwardedFor === undefined) {
    return socketAddress;
  }
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  let address = socketAddress;
  while (hops.length > 0 && fromTrustedProxy(address, trustedProxies)) address = hops.pop();
  return address;
}
