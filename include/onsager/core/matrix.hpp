#pragma once
// Storage order, stated once for the whole library:
//   data matrices are row-major, samples x features: component j of sample i is x[i * d + j];
//   a minibatch is B x V; RBM weights W are H x V (out x in, PyTorch's nn.Linear convention),
//   also row-major, so W's bytes are exactly the [H, V] tensor of a safetensors file.
// Training arithmetic is float; partition sums, AIS weights and spectra are double.

#include <Eigen/Dense>

namespace onsager {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorF = Eigen::VectorXf;
using VectorD = Eigen::VectorXd;
using RowVectorF = Eigen::RowVectorXf;

using MatrixFRef = Eigen::Ref<MatrixF>;
using ConstMatrixFRef = Eigen::Ref<const MatrixF>;
using ConstVectorFRef = Eigen::Ref<const VectorF>;

}  // namespace onsager
