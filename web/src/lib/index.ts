// The encryption tool's library: everything the pages use, and what the Node tests load.
export * from './bytes';
export * from './bkenc';
export * from './keys';
export * from './zip';
export * from './package';
export * from './azblob';
