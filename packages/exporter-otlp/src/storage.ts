/**
 * How an OTLP request is kept in the exporter helper's persistent queue (@profcol/core
 * `DiskQueue`): the JSON of `encodeRequest`, in files named `<seq>.otlpq` as before the queue
 * moved to core, so a queue written by an older profcol is replayed.
 */
import { CorruptQueueFileError, encodeQueueFile, QueueStorageError, type RequestCodec } from '@profcol/core';
import { decodeRequest, encodeRequest, type ExportRequest } from './convert.js';

export const QUEUE_FILE_SUFFIX = '.otlpq';

export const requestCodec: RequestCodec<ExportRequest> = {
  encode: (request) => encodeRequest(request),
  decode: (body) => decodeRequest(body.toString('utf8')),
};

/** The queue file bytes of a request (for tests that lay out a queue by hand). */
export function encodeFile(request: ExportRequest): Buffer {
  return encodeQueueFile(encodeRequest(request));
}

/** The names these errors had before the queue moved to core. */
export { CorruptQueueFileError as CorruptFileError, QueueStorageError as StorageError };
