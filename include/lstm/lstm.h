// lstm.cpp — the whole public API.
#pragma once

#include "lstm/data.h"
#include "lstm/io.h"
#include "lstm/loss.h"
#include "lstm/model.h"
#include "lstm/nn.h"
#include "lstm/optim.h"
#include "lstm/report.h"
#include "lstm/tensor.h"
#include "lstm/threads.h"
#include "lstm/train.h"
