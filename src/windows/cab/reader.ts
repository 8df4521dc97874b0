/**
 * readCab: the directory of a cabinet (MS-CAB 2.1-2.3), with every size and offset read from
 * the file checked against the file before it is used, so that a malformed cabinet is refused
 * with a 'invalid_input' error after work proportional to its directory, never more:
 * - the header's cbCabinet within the file, the reserve within 60,000 bytes;
 * - the folder table and the file table inside cbCabinet, cFiles no more than could fit;
 * - folder data in file order, after the file table, each folder's blocks able to fit before
 *   the next folder (so folders cannot share or loop over the same bytes);
 * - each file inside its folder's maximal uncompressed size, files of a folder not overlapping.
 * Multi-volume cabinets are refused; Quantum and LZX folders are listed but not extracted.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode, notFound } from '../../errors.js';
import { cabError } from './errors.js';
import { BLOCK_BYTES, CFDATA_FIXED_BYTES } from './data-block.js';
import {
  CFFILE_FIXED_BYTES,
  decodeFileEntry,
  decodeName,
  fromDosDateTime,
  IFOLD_CONTINUED,
  MAX_NAME_BYTES,
} from './file-entry.js';
import { CFFOLDER_BYTES, decodeFolder } from './folder.js';
import { decodeHeader, decodeSignatureReserve, headerBytes, MAX_CFHEADER_BYTES } from './header.js';
import type { CabDirectory, CabFileInfo, CabFolderInfo, CabHeaderInfo } from './types.js';

export async function readCab(path: string): Promise<CabDirectory> {
  const fh = await openCabFile(path);
  try {
    return await readDirectory(fh, path);
  } finally {
    await fh.close();
  }
}

export async function readDirectory(fh: FileHandle, path: string): Promise<CabDirectory> {
  const fileBytes = (await fh.stat()).size;
  const head = await readAt(fh, 0, Math.min(fileBytes, MAX_CFHEADER_BYTES));
  const h = decodeHeader(head, fileBytes);
  const cabEnd = h.cbCabinet;

  const folderStart = headerBytes(h);
  const folderEntry = CFFOLDER_BYTES + h.cbCFFolder;
  const foldersEnd = folderStart + folderEntry * h.cFolders;
  if (foldersEnd > cabEnd)
    throw cabError('truncated', `${h.cFolders} CFFOLDER entries do not fit in the cabinet`);
  if (h.coffFiles < foldersEnd || h.coffFiles > cabEnd) {
    throw cabError('bad_offset', `coffFiles ${h.coffFiles} is outside ${foldersEnd}..${cabEnd}`);
  }
  if (h.cFiles > 0 && h.cFolders === 0)
    throw cabError('bad_count', `${h.cFiles} files but no folder`);
  // The smallest CFFILE is 16 bytes plus a one-byte name and its NUL.
  if (h.cFiles * (CFFILE_FIXED_BYTES + 2) > cabEnd - h.coffFiles) {
    throw cabError('bad_count', `cFiles ${h.cFiles} cannot fit in ${cabEnd - h.coffFiles} bytes`);
  }

  const folderTable = await readAt(fh, folderStart, foldersEnd - folderStart);
  const rawFolders = Array.from({ length: h.cFolders }, (_, i) =>
    decodeFolder(folderTable, i * folderEntry, i),
  );

  const tableBytes = Math.min(
    cabEnd - h.coffFiles,
    h.cFiles * (CFFILE_FIXED_BYTES + MAX_NAME_BYTES),
  );
  const fileTable = await readAt(fh, h.coffFiles, tableBytes);
  const files: CabFileInfo[] = [];
  let offset = 0;
  for (let i = 0; i < h.cFiles; i++) {
    const { entry, next } = decodeFileEntry(fileTable, offset, i);
    offset = next;
    if (entry.iFolder >= IFOLD_CONTINUED) {
      throw cabError(
        'multi_volume',
        `file ${i} continues across cabinets (iFolder 0x${entry.iFolder.toString(16)})`,
      );
    }
    if (entry.iFolder >= h.cFolders) {
      throw cabError('bad_offset', `file ${i} names folder ${entry.iFolder} of ${h.cFolders}`, {
        file: i,
      });
    }
    files.push({
      name: decodeName(entry, i),
      size: entry.cbFile,
      folderIndex: entry.iFolder,
      folderOffset: entry.uoffFolderStart,
      mtime: fromDosDateTime(entry.date, entry.time),
      attributes: entry.attribs,
    });
  }
  const tableEnd = h.coffFiles + offset;

  const folders: CabFolderInfo[] = rawFolders.map((f, index) => ({
    index,
    dataOffset: f.coffCabStart,
    blockCount: f.cCFData,
    compression: f.compression,
  }));
  checkFolderData(folders, tableEnd, cabEnd, CFDATA_FIXED_BYTES + h.cbCFData);
  checkFileRanges(files, folders);

  const header: CabHeaderInfo = {
    cabinetBytes: h.cbCabinet,
    versionMajor: h.versionMajor,
    versionMinor: h.versionMinor,
    flags: h.flags,
    setId: h.setID,
    iCabinet: h.iCabinet,
    filesOffset: h.coffFiles,
    headerReserve: h.abReserve,
    folderReserveBytes: h.cbCFFolder,
    dataReserveBytes: h.cbCFData,
  };
  const signature = decodeSignatureReserve(h.abReserve);
  if (signature !== undefined) header.signature = signature;
  return { path, fileBytes, header, folders, files };
}

/** Folder data lies after the file table, in folder order, each with room for its blocks. */
function checkFolderData(
  folders: CabFolderInfo[],
  tableEnd: number,
  cabEnd: number,
  blockHeader: number,
): void {
  let floor = tableEnd;
  folders.forEach((f, i) => {
    if (f.dataOffset < floor || f.dataOffset > cabEnd) {
      throw cabError(
        'bad_offset',
        `folder ${i} data offset ${f.dataOffset} is outside ${floor}..${cabEnd}`,
        {
          folder: i,
        },
      );
    }
    const limit = i + 1 < folders.length ? (folders[i + 1] as CabFolderInfo).dataOffset : cabEnd;
    if (limit < f.dataOffset || (limit === f.dataOffset && f.blockCount > 0)) {
      throw cabError('bad_offset', `folder ${i + 1} data does not start after folder ${i}'s`, {
        folder: i + 1,
      });
    }
    // Each block takes its header plus at least one payload byte.
    const minEnd = f.dataOffset + f.blockCount * (blockHeader + 1);
    if (minEnd > limit) {
      throw cabError(
        'bad_count',
        `folder ${i} cannot hold ${f.blockCount} blocks before offset ${limit}`,
        {
          folder: i,
        },
      );
    }
    floor = minEnd;
  });
}

/** Each file fits in its folder's largest possible stream; a folder's files do not overlap. */
function checkFileRanges(files: CabFileInfo[], folders: CabFolderInfo[]): void {
  const byFolder = new Map<number, CabFileInfo[]>();
  for (const file of files) {
    const folder = folders[file.folderIndex] as CabFolderInfo;
    if (file.folderOffset + file.size > folder.blockCount * BLOCK_BYTES) {
      throw cabError(
        'bad_size',
        `file ${file.name} (${file.size} bytes at ${file.folderOffset}) is past folder ${folder.index}'s data`,
        {
          name: file.name,
        },
      );
    }
    const list = byFolder.get(file.folderIndex) ?? [];
    list.push(file);
    byFolder.set(file.folderIndex, list);
  }
  for (const list of byFolder.values()) {
    const sorted = list.filter((f) => f.size > 0).sort((a, b) => a.folderOffset - b.folderOffset);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as CabFileInfo;
      const cur = sorted[i] as CabFileInfo;
      if (cur.folderOffset < prev.folderOffset + prev.size) {
        throw cabError('bad_offset', `files ${prev.name} and ${cur.name} overlap`, {
          name: cur.name,
        });
      }
    }
  }
}

/** Opens a cabinet for reading; a missing one is 'not_found', a directory 'invalid_input'. */
export async function openCabFile(path: string): Promise<FileHandle> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    if (errnoCode(err) === 'ENOENT') throw notFound(`cabinet ${path} does not exist`);
    throw err;
  });
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw cabError('not_a_cabinet', `${path} is not a regular file`);
  }
  return fh;
}

/** Exactly `length` bytes at `position`, or 'truncated'. */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw cabError('truncated', `file ends before byte ${position + length}`);
    done += bytesRead;
  }
  return buf;
}
