// linalg.h: the one place the core includes Eigen.
//
// Every core file that needs Eigen includes this header instead of <Eigen/...>
// so that all translation units agree on the configuration:
//   EIGEN_NO_DEBUG          Eigen's internal asserts call abort(); a PostgreSQL
//                           backend must never abort, and PGXS does not define
//                           NDEBUG, so they are switched off here
//   EIGEN_DONT_PARALLELIZE  the core runs its own OpenMP regions (with the
//                           caller's thread count) and calls Eigen inside them;
//                           Eigen must not start nested teams of its own
//
// Vocabulary: RowMatrixF is a row-major float matrix, the layout of every
// embedding table the core exchanges (n rows x dim columns); RowMatrixD is
// its double counterpart (class probabilities, attackers' work matrices).
#ifndef RAID_CORE_LINALG_H
#define RAID_CORE_LINALG_H

#ifndef EIGEN_NO_DEBUG
#define EIGEN_NO_DEBUG 1
#endif
#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE 1
#endif

#include <Eigen/Dense>

namespace raid {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMapF = Eigen::Map<const RowMatrixF>;
using RowMapF = Eigen::Map<RowMatrixF>;
using VectorF = Eigen::VectorXf;
using ConstVectorMapF = Eigen::Map<const Eigen::VectorXf>;
using VectorMapF = Eigen::Map<Eigen::VectorXf>;

}  // namespace raid

#endif  // RAID_CORE_LINALG_H
