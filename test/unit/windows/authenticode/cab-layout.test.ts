import test from 'ava';
import { refusalCode } from '../../../helpers/authenticode.js';
import {
  MAX_SIGNATURE_BYTES,
  parseCabHeader,
  signedEnd,
  signedPrefix,
} from '../../../../src/windows/authenticode/cab-layout.js';

/** A header (and folder table) as MS-CAB 2.1 lays it out, with `folders` CFFOLDERs. */
function cab(
  options: { folders?: number; reserve?: [number, number]; size?: number } = {},
): Buffer {
  const folders = options.folders ?? 1;
  const headerSize = options.reserve === undefined ? 36 : 60;
  const coffFiles = headerSize + 8 * folders;
  const size = options.size ?? coffFiles + 100;
  const b = Buffer.alloc(size);
  b.write('MSCF', 0, 'latin1');
  b.writeUInt32LE(options.reserve?.[0] || size, 8);
  b.writeUInt32LE(coffFiles, 16);
  b[24] = 3;
  b[25] = 1;
  b.writeUInt16LE(folders, 26);
  b.writeUInt16LE(1, 28);
  if (options.reserve !== undefined) {
    b.writeUInt16LE(0x4, 30);
    b.writeUInt16LE(20, 36);
    b.writeUInt32LE(0x00100000, 40);
    b.writeUInt32LE(options.reserve[0], 44);
    b.writeUInt32LE(options.reserve[1], 48);
  }
  for (let i = 0; i < folders; i++) b.writeUInt32LE(coffFiles + 20 + 1000 * i, headerSize + 8 * i);
  return b;
}

const code = refusalCode;

const parse = (b: Buffer): ReturnType<typeof parseCabHeader> =>
  parseCabHeader(b.subarray(0, 60), b.length);

test('inserting the reserve shifts cbCabinet, coffFiles and every coffCabStart by 24', (t) => {
  const input = cab({ folders: 3 });
  const header = parse(input);
  const body = input.length - header.coffFiles;
  const { prefix, hashed } = signedPrefix(header, input.subarray(0, header.coffFiles), body);
  t.is(prefix.length, header.coffFiles + 24);
  t.is(prefix.readUInt32LE(8), input.length + 24);
  t.is(prefix.readUInt32LE(16), header.coffFiles + 24);
  t.is(prefix.readUInt16LE(30) & 0x4, 0x4);
  t.deepEqual([prefix.readUInt16LE(36), prefix[38], prefix[39]], [20, 0, 0]);
  t.is(prefix.readUInt32LE(40), 0x00100000);
  t.is(prefix.readUInt32LE(44), input.length + 24); // the signature goes at the end
  for (let i = 0; i < 3; i++)
    t.is(prefix.readUInt32LE(60 + 8 * i), input.readUInt32LE(36 + 8 * i) + 24);
  // Digest input: 0-3, 8-33, 56 to the end of the folder table (cab-layout.ts table).
  t.deepEqual(
    Buffer.concat(hashed),
    Buffer.concat([prefix.subarray(0, 4), prefix.subarray(8, 34), prefix.subarray(56)]),
  );
});

test('a cabinet that already has the reserve keeps its prefix', (t) => {
  const input = cab({ reserve: [0, 0] });
  const header = parse(input);
  const { prefix } = signedPrefix(
    header,
    input.subarray(0, header.coffFiles),
    input.length - header.coffFiles,
  );
  t.true(prefix.subarray(0, 44).equals(input.subarray(0, 44)));
  t.is(prefix.readUInt32LE(44), input.length);
});

test('malformed headers are refused before anything is read past them', (t) => {
  t.is(
    code(() => parseCabHeader(Buffer.alloc(20), 20)),
    'invalid_input',
  );
  const bad = (edit: (b: Buffer) => void): string => {
    const b = cab();
    edit(b);
    return code(() => parse(b));
  };
  t.is(
    bad((b) => b.write('MSCX', 0, 'latin1')),
    'invalid_input',
  );
  t.is(
    bad((b) => b.writeUInt32LE(1, 4)),
    'invalid_input',
  );
  t.is(
    bad((b) => (b[25] = 2)),
    'invalid_input',
  );
  t.is(
    bad((b) => b.writeUInt16LE(0x1, 30)),
    'invalid_input',
  ); // multi-volume
  t.is(
    bad((b) => b.writeUInt32LE(4000, 16)),
    'invalid_input',
  ); // coffFiles past the folder table
  const reserved = (edit: (b: Buffer) => void): string => {
    const b = cab({ reserve: [0, 0] });
    edit(b);
    return code(() => parse(b));
  };
  t.is(
    reserved((b) => b.writeUInt16LE(24, 36)),
    'malformed_signature',
  );
  t.is(
    reserved((b) => b.writeUInt32LE(0x00200000, 40)),
    'malformed_signature',
  );
});

test('signature offset and length must be sane and inside the file', (t) => {
  const size = 200;
  const end = (reserve: [number, number], cbCabinet?: number): string => {
    const b = cab({ reserve, size });
    if (cbCabinet !== undefined) b.writeUInt32LE(cbCabinet, 8);
    return code(() => signedEnd(parse(b)));
  };
  t.is(end([0, 0], size), 'accepted'); // unsigned, reserve waiting (osslsigncode's form)
  t.is(end([size, 0], size), 'accepted'); // unsigned, upcat's writer's form
  t.is(end([160, 40], 160), 'accepted');
  t.is(end([100, 0], size), 'malformed_signature');
  t.is(end([160, 48], 160), 'malformed_signature'); // past the end
  t.is(end([160, 32], 160), 'malformed_signature'); // short of the end
  t.is(end([40, 160], 40), 'malformed_signature'); // inside the header
  t.is(end([150, 50], 160), 'malformed_signature'); // cbCabinet disagrees
  const huge = cab({ reserve: [300, MAX_SIGNATURE_BYTES + 8], size: 308 + MAX_SIGNATURE_BYTES });
  huge.writeUInt32LE(300, 8);
  t.is(
    code(() => signedEnd(parse(huge))),
    'malformed_signature',
  ); // absurd length
  t.is(end([0xfffffff0, 0x20]), 'malformed_signature');
  t.is(
    code(() => signedEnd(parse(cab({ size, reserve: undefined }).fill(0, 8, 12)))),
    'invalid_input',
  );
});
