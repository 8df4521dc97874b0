/** What one kind of collection removed (or, in a dry run, would remove). */
export interface Freed {
  files: number;
  bytes: number;
}

export const nothingFreed = (): Freed => ({ files: 0, bytes: 0 });
