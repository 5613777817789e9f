export * from './config.js';
export { Backoff, sleep } from './backoff.js';
export {
  CorruptQueueFileError,
  DiskQueue,
  QueueStorageError,
  decodeQueueFile,
  encodeQueueFile,
  storageSubdir,
  type ReplayedRequest,
  type RequestCodec,
  type StoredRequest,
} from './disk-queue.js';
export { PermanentSendError, RetryableSendError, failureReason } from './send-errors.js';
export {
  QueuedExporter,
  createQueuedExporter,
  describeItems,
  ExporterHelperError,
  RetryTimeout,
  type ExporterHelperOptions,
  type RequestItems,
  type SendContext,
} from './exporter-helper.js';
