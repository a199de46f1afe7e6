# syntax=docker/dockerfile:1
# Marquee API image. Not exercised by CI (no Docker engine runs there); keep it in step with package.json.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` builds the embedded template from sources that are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY db ./db
RUN npm run build

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    MARQUEE_DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY openapi ./openapi
# The local embedder's word vectors (one 307 MB JSON file) converted once into their 38 MB binary form, as
# `npm install` does in a checkout: install scripts are off above, and the unprivileged user below cannot
# write node_modules, so without this every process failed at its first local embedding (EACCES).
RUN node -e "import('./dist/src/embedding/word-vectors.js').then((m) => m.loadWordVectors())"
# The embedded database (used when DATABASE_URL is unset) lives in a volume owned by the unprivileged user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1, not npm: npm does not forward SIGTERM, and Marquee drains requests on SIGTERM.
CMD ["node", "--disable-proto=throw", "bin/marquee.js", "serve"]
