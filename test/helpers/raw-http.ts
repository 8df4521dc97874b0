import net from 'node:net';

/**
 * Sends each chunk (40 ms apart, so that each is its own read), then closes the sending side, and
 * reads until the server closes (or 3 s pass). Dates are blanked: they are the only field that
 * may differ between two answers. With `quietMs`, the sending side is closed only once the
 * server has sent nothing for that long after the last chunk: node:http drops the answers it has
 * queued behind another when the client's end arrives first (socketOnEnd), which would make the
 * answers depend on timing rather than on the bytes.
 */
export function exchange(port: number, chunks: string[], quietMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), 3000);
    let quiet: NodeJS.Timeout | undefined;
    const endWhenQuiet = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(() => socket.end(), quietMs);
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
      if (quiet !== undefined) endWhenQuiet();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(quiet);
      resolve(got.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n'));
    });
    socket.on('connect', async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 40));
        socket.write(chunk, 'latin1');
      }
      if (quietMs > 0) endWhenQuiet();
      else socket.end();
    });
  });
}

/** The answers in what exchange() read, each from its status line. */
export function answersOf(text: string): string[] {
  return text.split(/(?=HTTP\/1\.1 \d{3} )/).filter((a) => a !== '');
}

/**
 * Writes `text` on a new connection and reads until `count` whole answers came (each head, then
 * as many body bytes as its Content-Length says), then closes; rejects after 5 s. Unlike
 * exchange(), the sending side stays open while the server answers, so node:http answers every
 * pipelined request, however long the first takes. Dates are blanked, as there.
 */
export function converse(port: number, text: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${count} answers expected, got: ${JSON.stringify(got)}`));
    }, 5000);
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (d: string) => {
      got += d;
      const answers = wholeAnswers(got);
      if (answers.length < count) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(answers.map((a) => a.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: -\r\n')));
    });
    socket.on('connect', () => socket.write(text, 'latin1'));
  });
}

/** The complete answers at the start of `text` (heads with their Content-Length bodies). */
function wholeAnswers(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return out;
    const head = text.slice(at, headEnd);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const end = headEnd + 4 + length;
    if (end > text.length) return out;
    out.push(text.slice(at, end));
    at = end;
  }
}
