# One image for every TypeScript process of the platform: the auth service, the authz server,
# the mail worker, migrations, and the compose helpers in docker/ (example upstream, mail sink,
# Envoy config render). docker-compose.yml picks the process with `command`.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so a source change does not reinstall them. tsx is a runtime dependency:
# the services run their TypeScript directly, there is no build step.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Sources, migrations, protos (reflection and the ext_authz API), the common-password list and
# docker/ helpers. They stay root-owned: the processes read them and never write there.
COPY . .

# Where the compose helpers write (mail sink messages, the rendered Envoy config). A named volume
# mounted here starts with this ownership, so the unprivileged user can write it.
RUN mkdir -p /var/lib/auth-platform/mail /var/lib/auth-platform/envoy \
    && chown -R node:node /var/lib/auth-platform

USER node

# `node --import tsx` rather than `npx tsx`: one process (no npm or tsx launcher in between), so
# SIGTERM from `docker stop` reaches the service's own shutdown handler.
CMD ["node", "--import", "tsx", "src/main-auth.ts"]
