// Process-wide hardening, run before anything else is loaded (bin/marquee.js).

/**
 * Makes any use of `Object.prototype.__proto__` throw, as `node --disable-proto=throw` does, when the process
 * was started without that flag: a slip that writes through a user-supplied `__proto__` key then fails loudly
 * instead of giving every object in the process a new property (an access rule, a metric label...).
 */
export function disablePrototypeAccessor(): void {
  const descriptor = Object.getOwnPropertyDescriptor(Object.prototype, '__proto__');
  // Already gone (--disable-proto=delete) or throwing (--disable-proto=throw): nothing to do.
  if (!descriptor?.get || !descriptor.configurable) return;
  try {
    descriptor.get.call({});
  } catch {
    return;
  }
  const refuse = () => {
    throw Object.assign(new Error('Object.prototype.__proto__ access is disabled in this process'), {
      code: 'ERR_PROTO_ACCESS',
    });
  };
  Object.defineProperty(Object.prototype, '__proto__', { get: refuse, set: refuse, configurable: false });
}
