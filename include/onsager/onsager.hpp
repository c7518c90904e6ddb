#pragma once
// onsager's public API in one include: Boltzmann machines (training, likelihoods, sampling), data sets,
// model and tensor files, and the spectral diagnostics of trained networks. Data matrices are row-major,
// samples x features (core/matrix.hpp). Every function throws onsager::Error on input a caller can get
// wrong, with a message naming the function and the field ("log_partition_ais: options.runs must be at
// least 1 (got 0)"). examples/ has two programs built on this header alone.

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/matrix.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/io/model_formats.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/nn/softmax_regression.hpp"
#include "onsager/plot/esd_plot.hpp"
#include "onsager/plot/image_grid.hpp"
#include "onsager/rbm/evaluate.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/rbm.hpp"
#include "onsager/rbm/sampling.hpp"
#include "onsager/rbm/tap.hpp"
#include "onsager/rbm/train.hpp"
#include "onsager/rbm/training_run.hpp"
#include "onsager/spectral/analyze.hpp"
#include "onsager/spectral/inspect.hpp"
