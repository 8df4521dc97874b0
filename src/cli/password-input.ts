import { UpcatError } from '../errors.js';

/**
 * A password for `upcat users add|passwd`, never from an argument (arguments show in `ps` and
 * shell history): the first line of standard input when it is piped (or with
 * `--password-stdin`), else typed at the terminal without echo, twice.
 */
export async function readPassword(options: { stdin?: boolean }): Promise<string> {
  const input = process.stdin;
  if (options.stdin === true || !input.isTTY) return firstLine(await readAll(input));
  const first = await prompt('password: ');
  const again = await prompt('again: ');
  if (first !== again) throw new UpcatError('invalid_input', 'password: the two entries differ');
  return first;
}

async function readAll(input: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > 64 * 1024)
      throw new UpcatError('invalid_input', 'password: standard input is too long');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The first line, without its line ending (`echo secret | upcat users add ...`). */
function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  const password = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (password === '') throw new UpcatError('invalid_input', 'password: standard input is empty');
  return password;
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function prompt(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err === undefined) resolve(typed);
      else reject(err);
    };
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004')
          return done(new UpcatError('invalid_input', 'password: cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else typed += ch;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
