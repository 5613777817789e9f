import { ProfcolError } from '@profcol/core';

const ERRNO_MEANING: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file is in the way of a folder',
  EISDIR: 'a folder is in the way of a file',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
};

const HINT: Record<string, string> = {
  MAX_BYTES: 'free space under "directory" (or raise max_bytes); the batch was refused, not lost',
  ENOSPC: 'free space on the device; the batch was refused, not lost',
};

/** The file exporter could not create a folder or write a file. */
export class FileWriteError extends ProfcolError {
  /** The file or folder it tried to write. */
  readonly path: string;
  /** The system error code (`EACCES`, `ENOTDIR`, `ENOSPC`, ...), or `unknown`. */
  readonly errno: string;
  constructor(exporterId: string, operation: 'create folder' | 'write' | 'append to' | 'rotate', path: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
    const meaning = ERRNO_MEANING[errno] ?? (cause instanceof Error ? cause.message : String(cause));
    super(
      'file_write',
      `exporters::${exporterId}: cannot ${operation} ${path}: ${errno} (${meaning}); ${HINT[errno] ?? '"directory" must be a folder profcol can create and write to'}`,
      { cause },
    );
    this.path = path;
    this.errno = errno;
  }
}
