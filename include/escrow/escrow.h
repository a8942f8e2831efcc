/*
 * libescrow: the embeddable core of escrow, an open implementation of the EscrowAI
 * confidential-collaboration platform. This umbrella header includes every module.
 */
#ifndef ESCROW_H
#define ESCROW_H

#include "common.h"
#include "error.h"
#include "keys.h"
#include "envelope.h"
#include "package.h"
#include "criteria.h"
#include "sas.h"
#include "blob.h"
#include "client.h"
#include "attest.h"

#endif
