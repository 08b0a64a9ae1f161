# One image for every LGSP service and the gateway; the arguments pick the
# program (Kubernetes sets them, see deploy/k8s):
#   docker run IMAGE services/registry/src/main.ts
#   docker run IMAGE gateway/src/main.ts            (the default)
#   docker run IMAGE services/auth/src/bin/create-admin.ts --name admin
# The TypeScript runs through tsx (a production dependency), so nothing is
# compiled: the build stage installs the production dependencies from the
# lockfile, and the runtime stage copies them with the sources the programs
# import. No HEALTHCHECK: Kubernetes probes /healthz and /readyz.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY lib ./lib
COPY gen ./gen
COPY services ./services
COPY gateway ./gateway
# A user of its own, no shell login, owning nothing in /app: the root filesystem
# may be mounted read-only (tsx keeps its cache in /tmp: mount a volume there).
RUN groupadd --system --gid 10001 lgsp \
  && useradd --system --uid 10001 --gid lgsp --no-create-home --shell /usr/sbin/nologin lgsp
USER 10001:10001
EXPOSE 8080 7101 7102 7103 7104 7105 7106
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["gateway/src/main.ts"]
