/**
 * writeCab: a single cabinet, streamed to a file with bounded memory.
 *
 * Layout (MS-CAB 2): CFHEADER | CFFOLDER[cFolders] | CFFILE[cFiles] | CFDATA of folder 0 | ...
 * Every input size is known before the first byte is written, so the file table and each
 * folder's block count are fixed up front; only cbCabinet and the folders' data offsets depend
 * on compression. The body is written after room for the directory, which is written last.
 *
 * A file lies in one folder, and a folder holds at most 65535 blocks of 32 KiB (cCFData is a
 * u16), so a new folder starts before one would pass that; a single file is limited to
 * 65535 x 32 KiB = 0x7FFF8000 bytes, the format's per-file maximum.
 */
import { rm } from 'node:fs/promises';
import { UpcatError, invalidInput } from '../../errors.js';
import { BLOCK_BYTES, encodeDataHeader } from './data-block.js';
import { encodeFileEntry, MAX_FILES } from './file-entry.js';
import { CFFOLDER_BYTES, encodeFolder, MAX_BLOCKS_PER_FOLDER, MAX_FOLDERS } from './folder.js';
import {
  encodeHeader,
  encodeSignatureReserve,
  FLAG_RESERVE_PRESENT,
  headerBytes,
  SIGNATURE_RESERVE_BYTES,
} from './header.js';
import { folderChunks, resolveInput, type ResolvedInput } from './input.js';
import { openOutput, PositionedWriter, writeFully } from './output.js';
import { compressMszipBlock } from './mszip.js';
import type { CabCompression, CabInputFile, WriteCabOptions, WriteCabResult } from './types.js';

/** Internal knobs; tests lower the block limit to cross folder boundaries with little data. */
export interface CabWriterLimits {
  maxBlocksPerFolder: number;
}

const DEFAULT_LIMITS: CabWriterLimits = { maxBlocksPerFolder: MAX_BLOCKS_PER_FOLDER };
/** Blocks being compressed at once (on zlib's thread pool); bounds memory to a few MiB. */
const BLOCKS_IN_FLIGHT = 16;

interface PlannedFolder {
  inputs: ResolvedInput[];
  bytes: number;
  blocks: number;
}

export async function writeCab(
  files: CabInputFile[],
  outPath: string,
  options: WriteCabOptions = {},
  limits: CabWriterLimits = DEFAULT_LIMITS,
): Promise<WriteCabResult> {
  const compression: CabCompression = options.compression ?? 'mszip';
  const level = options.level ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9)
    throw invalidInput('cabinet: level must be 1..9');
  // An empty cabinet is legal in MS-CAB but libmspack (cabextract) rejects it as invalid.
  if (files.length === 0) throw invalidInput('cabinet: at least one file is needed');
  if (files.length > MAX_FILES)
    throw tooLarge(`a cabinet holds at most ${MAX_FILES} files, ${files.length} given`);
  const inputs: ResolvedInput[] = [];
  for (const file of files) inputs.push(await resolveInput(file, options.mtime));
  const folders = planFolders(inputs, limits.maxBlocksPerFolder);

  const reserve = options.signatureReserve === true;
  const headerLength = headerBytes({
    flags: reserve ? FLAG_RESERVE_PRESENT : 0,
    abReserve: Buffer.alloc(reserve ? SIGNATURE_RESERVE_BYTES : 0),
  });
  const coffFiles = headerLength + CFFOLDER_BYTES * folders.length;
  const fileTable = encodeFileTable(folders);
  const dataStart = coffFiles + fileTable.length;

  const fh = await openOutput(outPath, options.overwrite === true);
  try {
    const sink = new PositionedWriter(fh, dataStart);
    const folderStarts: number[] = [];
    for (const folder of folders) {
      folderStarts.push(sink.position);
      await writeFolder(folder, sink, compression, level);
    }
    await sink.flush();
    const cbCabinet = sink.position;
    const header = encodeHeader({
      cbCabinet,
      coffFiles,
      versionMinor: 3,
      versionMajor: 1,
      cFolders: folders.length,
      cFiles: inputs.length,
      flags: reserve ? FLAG_RESERVE_PRESENT : 0,
      setID: options.setId ?? 0,
      iCabinet: 0,
      cbCFFolder: 0,
      cbCFData: 0,
      // Unsigned: the signature will start where the cabinet ends; its length is patched by the signer.
      abReserve: reserve
        ? encodeSignatureReserve({ offset: cbCabinet, length: 0 })
        : Buffer.alloc(0),
    });
    const folderTable = folders.map((f, i) =>
      encodeFolder({ coffCabStart: folderStarts[i] as number, cCFData: f.blocks, compression }),
    );
    await writeFully(fh, Buffer.concat([header, ...folderTable, fileTable]), 0);
    await fh.close();
    return {
      bytes: cbCabinet,
      folders: folders.length,
      blocks: folders.reduce((n, f) => n + f.blocks, 0),
      files: inputs.length,
      uncompressedBytes: folders.reduce((n, f) => n + f.bytes, 0),
    };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(outPath, { force: true });
    throw err;
  }
}

/** Files go into folders in order; a folder closes before it would pass the block limit. */
function planFolders(inputs: ResolvedInput[], maxBlocks: number): PlannedFolder[] {
  const maxFolderBytes = maxBlocks * BLOCK_BYTES;
  const folders: PlannedFolder[] = [];
  let current: PlannedFolder | undefined;
  for (const input of inputs) {
    if (input.size > maxFolderBytes) {
      throw tooLarge(
        `cabinet input ${input.label} has ${input.size} bytes; a cabinet file holds at most ${maxFolderBytes}`,
      );
    }
    if (current === undefined || current.bytes + input.size > maxFolderBytes) {
      current = { inputs: [], bytes: 0, blocks: 0 };
      folders.push(current);
    }
    current.inputs.push(input);
    current.bytes += input.size;
    current.blocks = Math.ceil(current.bytes / BLOCK_BYTES);
  }
  if (folders.length > MAX_FOLDERS)
    throw tooLarge(`the input needs more than ${MAX_FOLDERS} folders`);
  return folders;
}

function encodeFileTable(folders: PlannedFolder[]): Buffer {
  const entries: Buffer[] = [];
  folders.forEach((folder, iFolder) => {
    let offset = 0;
    for (const input of folder.inputs) {
      entries.push(
        encodeFileEntry({
          cbFile: input.size,
          uoffFolderStart: offset,
          iFolder,
          date: input.date,
          time: input.time,
          attribs: input.attribs,
          name: input.nameBytes,
        }),
      );
      offset += input.size;
    }
  });
  return Buffer.concat(entries);
}

/** Compresses a folder's blocks several at a time and writes them in order. */
async function writeFolder(
  folder: PlannedFolder,
  sink: PositionedWriter,
  compression: CabCompression,
  level: number,
): Promise<void> {
  const queue: Promise<Buffer[]>[] = [];
  let history: Buffer | undefined;
  let blocks = 0;
  for await (const chunk of folderChunks(folder.inputs)) {
    const pending = encodeBlock(chunk, history, compression, level);
    // Awaited in order below; this only keeps a failure from counting as unhandled meanwhile.
    pending.catch(() => undefined);
    queue.push(pending);
    // Every block but a folder's last is full, so the previous block is the whole 32 KiB window.
    history = chunk;
    blocks++;
    if (queue.length >= BLOCKS_IN_FLIGHT)
      await sink.push(await (queue.shift() as Promise<Buffer[]>));
  }
  while (queue.length > 0) await sink.push(await (queue.shift() as Promise<Buffer[]>));
  if (blocks !== folder.blocks)
    throw new UpcatError('internal', 'cabinet: block count differs from the plan');
}

async function encodeBlock(
  chunk: Buffer,
  history: Buffer | undefined,
  compression: CabCompression,
  level: number,
): Promise<Buffer[]> {
  const payload = compression === 'mszip' ? await compressMszipBlock(chunk, history, level) : chunk;
  return [encodeDataHeader(payload, chunk.length), payload];
}

function tooLarge(message: string): UpcatError {
  return new UpcatError('too_large', `cabinet: ${message}`);
}
