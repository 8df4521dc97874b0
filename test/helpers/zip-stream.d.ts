/**
 * The part of zip-stream (archiver's zip engine, which ships no types) that `upcat package`
 * uses: entries one at a time, then `finalize`.
 */
declare module 'zip-stream' {
  import type { Readable, Transform } from 'node:stream';

  export interface ZipStreamOptions {
    comment?: string;
    forceLocalTime?: boolean;
    forceZip64?: boolean;
    namePrependSlash?: boolean;
    store?: boolean;
    zlib?: { level?: number };
  }

  export interface ZipStreamEntryData {
    name: string;
    date: Date;
    mode: number;
  }

  export default class ZipStream extends Transform {
    constructor(options?: ZipStreamOptions);
    /** Writes one entry; `callback` runs once its bytes are in the archive (or with an error). */
    entry(
      source: Readable | Buffer,
      data: ZipStreamEntryData,
      callback: (err?: Error | null) => void,
    ): this;
    finalize(): void;
  }
}
