#include "data/fixtures_support.h"

#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <fstream>
#include <stdexcept>

namespace tc::test {

namespace fs = std::filesystem;

TempTree::TempTree(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("tc_fixture_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempTree::~TempTree() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {
void fixture_write(const fs::path& p, const cv::Mat& m) {
  fs::create_directories(p.parent_path());
  if (!cv::imwrite(p.string(), m)) throw std::runtime_error("fixture: cannot write " + p.string());
}
}  // namespace

void write_image(const fs::path& p, int w, int h, int channels) {
  cv::Mat m(h, w, channels == 1 ? CV_8UC1 : CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w * channels; ++x) m.ptr<uint8_t>(y)[x] = static_cast<uint8_t>(20 + 10 * y + 3 * x);
  fixture_write(p, m);
}

void write_mask(const fs::path& p, int value, int w, int h) {
  cv::Mat m = cv::Mat::zeros(h, w, CV_8UC1);
  if (value > 0) m(cv::Rect(0, 0, w / 2, h / 2)).setTo(value);
  fixture_write(p, m);
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// bottle (RGB):  train/good/{000,001}.png, test/good/000.png,
//                test/broken_large/{000,001,002}.png, ground_truth/broken_large/{000,002}_mask.png
//                (001 has no mask: sorted-index pairing would give it 002's mask),
//                ground_truth/broken_large/005_mask.png (orphan), test/good/.DS_Store, meta.json
// grid (gray):   train/good/000.png, test/good/000.png, test/bent/000.png + ground_truth/bent/000_mask.png
// license.txt, readme.txt at the root.
void make_mvtec(const fs::path& r) {
  write_image(r / "bottle/train/good/000.png");
  write_image(r / "bottle/train/good/001.png");
  write_image(r / "bottle/test/good/000.png");
  for (const char* n : {"000", "001", "002"}) write_image(r / "bottle/test/broken_large" / (std::string(n) + ".png"));
  write_mask(r / "bottle/ground_truth/broken_large/000_mask.png");
  write_mask(r / "bottle/ground_truth/broken_large/002_mask.png");
  write_mask(r / "bottle/ground_truth/broken_large/005_mask.png");
  write_text(r / "bottle/test/good/.DS_Store", "x");
  write_text(r / "bottle/meta.json", "{}");
  write_image(r / "grid/train/good/000.png", 8, 8, 1);
  write_image(r / "grid/test/good/000.png", 8, 8, 1);
  write_image(r / "grid/test/bent/000.png", 8, 8, 1);
  write_mask(r / "grid/ground_truth/bent/000_mask.png", 255, 8, 8);
  write_text(r / "license.txt", "CC BY-NC-SA 4.0");
  write_text(r / "readme.txt", "MVTec AD");
}

// split_csv/1cls.csv lists, for candle: train normal 0836, test normal 0900, test anomaly 000
// (class-index mask value 3) and 001 (empty mask column); for pcb1: test normal 0001, test
// anomaly 000 (mask listed but missing on disk). Images are upper-case .JPG.
// candle/image_anno.csv names 000's defect (quoted, with a comma); 001 is not in it.
void make_visa(const fs::path& r) {
  write_image(r / "candle/Data/Images/Normal/0836.JPG");
  write_image(r / "candle/Data/Images/Normal/0900.JPG");
  write_image(r / "candle/Data/Images/Anomaly/000.JPG");
  write_image(r / "candle/Data/Images/Anomaly/001.JPG");
  write_mask(r / "candle/Data/Masks/Anomaly/000.png", 3);
  write_image(r / "pcb1/Data/Images/Normal/0001.JPG");
  write_image(r / "pcb1/Data/Images/Anomaly/000.JPG");
  write_text(r / "candle/image_anno.csv",
             "image,label,mask\n"
             "candle/Data/Images/Normal/0836.JPG,normal,\n"
             "candle/Data/Images/Anomaly/000.JPG,\"chunk of wax missing, damaged corner\","
             "candle/Data/Masks/Anomaly/000.png\n");
  write_text(r / "split_csv/1cls.csv",
             "object,split,label,image,mask\r\n"
             "candle,train,normal,candle/Data/Images/Normal/0836.JPG,\r\n"
             "candle,test,normal,candle/Data/Images/Normal/0900.JPG,\r\n"
             "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\r\n"
             "candle,test,anomaly,candle/Data/Images/Anomaly/001.JPG,\r\n"
             "pcb1,test,normal,pcb1/Data/Images/Normal/0001.JPG,\r\n"
             "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\r\n");
}

// connector: train/good/000.png, test/good/000.png, test/parallel_behind/{000,001}.png with
// ground_truth/parallel_behind/{000,001}_mask.png
void make_mpdd(const fs::path& r) {
  write_image(r / "connector/train/good/000.png");
  write_image(r / "connector/test/good/000.png");
  for (const char* n : {"000", "001"}) {
    write_image(r / "connector/test/parallel_behind" / (std::string(n) + ".png"));
    write_mask(r / "connector/ground_truth/parallel_behind" / (std::string(n) + "_mask.png"));
  }
}

// 01 (bmp): train/ok/0000.bmp, test/ok/0001.bmp, test/ko/{0002,0003}.bmp,
//           ground_truth/ko/{0002,0003}.png (same stem, no _mask)
// 03 (png, non-square 10x6): train/ok/0000.png, test/ok/0000.png, test/ko/0001.png,
//           ground_truth/ko/0001.png
void make_btad(const fs::path& r) {
  write_image(r / "01/train/ok/0000.bmp");
  write_image(r / "01/test/ok/0001.bmp");
  write_image(r / "01/test/ko/0002.bmp");
  write_image(r / "01/test/ko/0003.bmp");
  write_mask(r / "01/ground_truth/ko/0002.png");
  write_mask(r / "01/ground_truth/ko/0003.png");
  write_image(r / "03/train/ok/0000.png", 10, 6);
  write_image(r / "03/test/ok/0000.png", 10, 6);
  write_image(r / "03/test/ko/0001.png", 10, 6);
  write_mask(r / "03/ground_truth/ko/0001.png", 255, 10, 6);
}

// kos01: Part0.jpg + Part0_label.bmp (all zero: normal), Part1.jpg + Part1_label.bmp (defect)
// kos02: Part0.jpg + Part0_label.bmp (defect, value 1), Part1.jpg without a label (skipped),
//        Part5_label.bmp without an image (orphan)
void make_sdd_raw(const fs::path& r) {
  write_image(r / "kos01/Part0.jpg", 8, 12, 1);
  write_mask(r / "kos01/Part0_label.bmp", 0, 8, 12);
  write_image(r / "kos01/Part1.jpg", 8, 12, 1);
  write_mask(r / "kos01/Part1_label.bmp", 255, 8, 12);
  write_image(r / "kos02/Part0.jpg", 8, 12, 1);
  write_mask(r / "kos02/Part0_label.bmp", 1, 8, 12);
  write_image(r / "kos02/Part1.jpg", 8, 12, 1);
  write_mask(r / "kos02/Part5_label.bmp", 255, 8, 12);
}

// AnomalyCLIP's copy: electrical_commutators/test/{good/kos01_Part0_0.png,
// defect/kos01_Part1_2.png} + ground_truth/defect/kos01_Part1_2_mask.png, train/good/kos03_Part0_1.png
void make_sdd_converted(const fs::path& r) {
  write_image(r / "electrical_commutators/train/good/kos03_Part0_1.png");
  write_image(r / "electrical_commutators/test/good/kos01_Part0_0.png");
  write_image(r / "electrical_commutators/test/defect/kos01_Part1_2.png");
  write_mask(r / "electrical_commutators/ground_truth/defect/kos01_Part1_2_mask.png");
}

// Class1: Train/{0001,0002}.PNG + Train/Label/0002_label.PNG; Test/{0003,0004,0005}.PNG +
//         Test/Label/0004_label.PNG + Test/Label/Labels.txt flagging 0004 and 0005 (0005's
//         label file is missing)
// Class2: Test/0001.PNG (normal only), Train missing
void make_dagm(const fs::path& r) {
  write_image(r / "Class1/Train/0001.PNG", 8, 8, 1);
  write_image(r / "Class1/Train/0002.PNG", 8, 8, 1);
  write_mask(r / "Class1/Train/Label/0002_label.PNG", 255, 8, 8);
  write_image(r / "Class1/Test/0003.PNG", 8, 8, 1);
  write_image(r / "Class1/Test/0004.PNG", 8, 8, 1);
  write_image(r / "Class1/Test/0005.PNG", 8, 8, 1);
  write_mask(r / "Class1/Test/Label/0004_label.PNG", 255, 8, 8);
  write_text(r / "Class1/Test/Label/Labels.txt",
             "3\n1\t0\t0003.PNG\t0\n2\t1\t0004.PNG\t0\t0004_label.PNG\n3\t1\t0005.PNG\t0\t0005_label.PNG\n");
  write_image(r / "Class2/Test/0001.PNG", 8, 8, 1);
}

// Woven_001: train/good/000.png, test/good/000.png, test/bad/{000,001}.png +
//            ground_truth/bad/{000,001}_mask.png
// Blotchy_099: test/good/000.png, test/bad/000.png + ground_truth/bad/000_mask.png
void make_dtd(const fs::path& r) {
  write_image(r / "Woven_001/train/good/000.png");
  write_image(r / "Woven_001/test/good/000.png");
  for (const char* n : {"000", "001"}) {
    write_image(r / "Woven_001/test/bad" / (std::string(n) + ".png"));
    write_mask(r / "Woven_001/ground_truth/bad" / (std::string(n) + "_mask.png"));
  }
  write_image(r / "Blotchy_099/test/good/000.png");
  write_image(r / "Blotchy_099/test/bad/000.png");
  write_mask(r / "Blotchy_099/ground_truth/bad/000_mask.png");
}

// Kaggle layout: labels.csv ("id, hemorrhage"; ids 0..4, 0-1 hemorrhage, 2-4 normal; id 4's
// image is missing) + head_ct/head_ct/{000,001,002,003,007}.png (007 not listed).
void make_headct_raw(const fs::path& r) {
  write_text(r / "labels.csv", "id, hemorrhage\n0, 1\n1, 1\n2, 0\n3, 0\n4, 0\n");
  for (const char* n : {"000", "001", "002", "003", "007"})
    write_image(r / "head_ct/head_ct" / (std::string(n) + ".png"), 8, 8, 1);
}

// AdaCLIP headct-pre.py output: headct/train/good (empty), headct/test/good/{000,001}.png,
// headct/test/defect/002.png
void make_headct_restructured(const fs::path& r) {
  fs::create_directories(r / "headct/train/good");
  write_image(r / "headct/test/good/000.png");
  write_image(r / "headct/test/good/001.png");
  write_image(r / "headct/test/defect/002.png");
}

// brain_tumor_dataset/no/{"1 no.jpeg", "N2.JPG"}, brain_tumor_dataset/yes/{"Y1.jpg", "Y2.png"},
// brain_tumor_dataset/yes/Thumbs.db (stray)
void make_brainmri(const fs::path& r) {
  write_image(r / "brain_tumor_dataset/no/1 no.jpeg");
  write_image(r / "brain_tumor_dataset/no/N2.JPG");
  write_image(r / "brain_tumor_dataset/yes/Y1.jpg");
  write_image(r / "brain_tumor_dataset/yes/Y2.png", 6, 9);
  write_text(r / "brain_tumor_dataset/yes/Thumbs.db", "x");
}

// no/{no0,no1}.jpg, yes/{y0,y1,y2}.jpg, pred/{pred0,pred1}.jpg (unlabelled)
void make_br35h(const fs::path& r) {
  write_image(r / "no/no0.jpg");
  write_image(r / "no/no1.jpg");
  for (const char* n : {"y0", "y1", "y2"}) write_image(r / "yes" / (std::string(n) + ".jpg"));
  write_image(r / "pred/pred0.jpg");
  write_image(r / "pred/pred1.jpg");
}

// COVID-19_Radiography_Dataset/{NORMAL/{Normal-1,Normal-2}.png, COVID/COVID-1.png,
// "Viral Pneumonia"/{images/"Viral Pneumonia-1.png", masks/"Viral Pneumonia-1.png"}},
// plus COVID.metadata.xlsx
void make_covid(const fs::path& r) {
  const fs::path d = r / "COVID-19_Radiography_Dataset";
  write_image(d / "NORMAL/Normal-1.png", 8, 8, 1);
  write_image(d / "NORMAL/Normal-2.png", 8, 8, 1);
  write_image(d / "COVID/COVID-1.png", 8, 8, 1);
  write_image(d / "Viral Pneumonia/images/Viral Pneumonia-1.png", 8, 8, 1);
  write_mask(d / "Viral Pneumonia/masks/Viral Pneumonia-1.png");
  write_text(d / "COVID.metadata.xlsx", "x");
}

// ISBI2016_ISIC_Part1_Test_Data/ISIC_{0000003,0000012,0000013}.jpg,
// ISBI2016_ISIC_Part1_Test_GroundTruth/ISIC_{0000003,0000012}_Segmentation.png (0000013 has none),
// ISBI2016_ISIC_Part1_Training_Data/ISIC_0000000.jpg + _Training_GroundTruth/ISIC_0000000_Segmentation.png
void make_isic(const fs::path& r) {
  for (const char* n : {"ISIC_0000003", "ISIC_0000012", "ISIC_0000013"})
    write_image(r / "ISBI2016_ISIC_Part1_Test_Data" / (std::string(n) + ".jpg"), 10, 7);
  for (const char* n : {"ISIC_0000003", "ISIC_0000012"})
    write_mask(r / "ISBI2016_ISIC_Part1_Test_GroundTruth" / (std::string(n) + "_Segmentation.png"), 255, 10, 7);
  write_image(r / "ISBI2016_ISIC_Part1_Training_Data/ISIC_0000000.jpg", 10, 7);
  write_mask(r / "ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_0000000_Segmentation.png", 255, 10, 7);
}

// images/{1,2,10}.png + masks/{1,2}.png (10 has no mask), masks/99.png (orphan); with
// jpeg_masks, images are .jpg and masks .jpg (Kvasir-SEG)
void make_polyp(const fs::path& r, bool jpeg_masks) {
  const std::string ext = jpeg_masks ? ".jpg" : ".png";
  for (const char* n : {"1", "2", "10"}) write_image(r / "images" / (std::string(n) + ext));
  for (const char* n : {"1", "2", "99"}) write_mask(r / "masks" / (std::string(n) + ext));
}

// images/{a,b}.jpg + masks/{a,b}.png
void make_endo(const fs::path& r) {
  write_image(r / "images/a.jpg");
  write_image(r / "images/b.jpg");
  write_mask(r / "masks/a.png");
  write_mask(r / "masks/b.png");
}

// test-image/{0,1,2}.jpg + test-mask/{0,1,2}.jpg; trainval-image/{5}.jpg + trainval-mask/5.jpg
void make_tn3k(const fs::path& r) {
  for (const char* n : {"0", "1", "2"}) {
    write_image(r / "test-image" / (std::string(n) + ".jpg"), 8, 8, 1);
    write_mask(r / "test-mask" / (std::string(n) + ".jpg"), 255, 8, 8);
  }
  write_image(r / "trainval-image/5.jpg", 8, 8, 1);
  write_mask(r / "trainval-mask/5.jpg", 255, 8, 8);
}

// good/{g0,g1}.png, anomalous/{x0.png, crack/c0.png, crack/c1.png},
// masks/{x0_mask.png, crack/c0_mask.png} (c1 has none)
void make_folder(const fs::path& r) {
  write_image(r / "good/g0.png");
  write_image(r / "good/g1.png");
  write_image(r / "anomalous/x0.png");
  write_image(r / "anomalous/crack/c0.png");
  write_image(r / "anomalous/crack/c1.png");
  write_mask(r / "masks/x0_mask.png");
  write_mask(r / "masks/crack/c0_mask.png");
}

}  // namespace tc::test
